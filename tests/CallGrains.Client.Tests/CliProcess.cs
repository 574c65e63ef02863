using System.Diagnostics;

namespace CallGrains.Client.Tests;

/// <summary>The <c>callgrains</c> softphone as a real process (the callgrains.dll built next to the tests), driven through stdin.</summary>
internal sealed class CliProcess : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly List<string> _output = [];
    private readonly List<string> _errors = [];
    private readonly string _name;

    private CliProcess(Process process, string name)
    {
        _process = process;
        _name = name;
    }

    public IReadOnlyList<string> Output
    {
        get
        {
            lock (_output)
            {
                return [.. _output];
            }
        }
    }

    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return string.Join('\n', _errors);
            }
        }
    }

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "callgrains.dll");

    public static CliProcess Start(string name, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = start };
        var cli = new CliProcess(process, name);
        process.OutputDataReceived += (_, e) => Add(cli._output, e.Data);
        process.ErrorDataReceived += (_, e) => Add(cli._errors, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return cli;
    }

    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits (at most 60 s) for the first line that starts with <paramref name="prefix"/> and holds every one of <paramref name="parts"/>.</summary>
    public async Task<string> LineAsync(string prefix, params string[] parts) => await LineAfterAsync(0, prefix, parts);

    /// <summary>The same, among the lines after the first <paramref name="after"/>.</summary>
    public async Task<string> LineAfterAsync(int after, string prefix, params string[] parts)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var found = Output.Skip(after).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal) && parts.All(p => l.Contains(p, StringComparison.Ordinal)));
            if (found is not null)
            {
                return found;
            }

            Assert.True(DateTime.UtcNow < deadline && !_process.HasExited, $"{_name}: no line '{prefix} … {string.Join(" … ", parts)}'; output:\n{string.Join('\n', Output)}\nerrors:\n{Errors}");
            await Task.Delay(20);
        }
    }

    /// <summary>Sends a command and waits for its own answer (<c>ok &lt;command&gt;</c>, <c>status</c> or <c>error</c>), after every line so far.</summary>
    public async Task<string> CommandAsync(string command, string answerPrefix)
    {
        var before = Output.Count;
        await SendAsync(command);
        return await LineAfterAsync(before, answerPrefix);
    }

    /// <summary>Closes stdin (end of input) and waits for the exit status.</summary>
    public async Task<int> EndInputAsync()
    {
        _process.StandardInput.Close();
        return await ExitCodeAsync();
    }

    public async Task<int> ExitCodeAsync()
    {
        using var limit = new CancellationTokenSource(Wait);
        await _process.WaitForExitAsync(limit.Token);
        return _process.ExitCode;
    }

    public static string Field(string line, string name) =>
        line.Split(' ').FirstOrDefault(w => w.StartsWith(name + "=", StringComparison.Ordinal))?[(name.Length + 1)..]
        ?? throw new Xunit.Sdk.XunitException($"no {name}= in '{line}'");

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static void Add(List<string> lines, string? line)
    {
        if (line is not null)
        {
            lock (lines)
            {
                lines.Add(line);
            }
        }
    }
}
