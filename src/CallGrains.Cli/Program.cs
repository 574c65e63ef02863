using CallGrains.Cli;

return await Softphone.RunAsync(args, Console.In, Console.Out, Console.Error);
