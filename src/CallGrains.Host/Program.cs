using CallGrains.Host;

var app = CallGrainsApp.Build(args);
app.Run();
