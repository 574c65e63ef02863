using CallGrains.Host;

// A node that cannot start says why in one line and exits non-zero; no stack trace for a configuration mistake.
if (await StartupChecks.RunAsync(args) is { } problem)
{
    Console.Error.WriteLine($"CallGrains cannot start: {problem}");
    return 2;
}

try
{
    var app = CallGrainsApp.Build(args);
    await app.RunAsync();
    return 0;
}
catch (Exception ex) when (StartupChecks.Explain(ex) is { } reason)
{
    Console.Error.WriteLine($"CallGrains cannot start: {reason}");
    return 2;
}
