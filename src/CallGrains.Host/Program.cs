using CallGrains.Host;

var builder = WebApplication.CreateBuilder(args);
builder.UseOrleans(silo => silo.AddCallGrainsSilo(builder.Configuration));
builder.Services.AddHealthChecks();

var app = builder.Build();
app.MapHealthChecks("/healthz");
app.MapInfoApi();
app.Lifetime.ApplicationStarted.Register(() => StartupBanner.Print(app));
app.Run();
