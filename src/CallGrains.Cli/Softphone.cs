using System.Globalization;
using System.Text.Json;
using CallGrains.Client;

namespace CallGrains.Cli;

/// <summary>The softphone: connects, prints events as they come, carries out the commands read from its input.</summary>
internal sealed class Softphone(CallGrainsClient client, TextWriter output)
{
    public const int Ok = 0;
    public const int CommandRefused = 1;
    public const int BadArguments = 2;
    public const int Refused = 3;
    public const int Unreachable = 4;

    private readonly TaskCompletionSource<int> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextReader input, TextWriter output, TextWriter errors)
    {
        var (arguments, problem) = CliArguments.Parse(args);
        if (arguments is null)
        {
            await errors.WriteLineAsync($"callgrains: {problem}\n\n{CliArguments.Usage}");
            return BadArguments;
        }

        if (arguments.Help)
        {
            await output.WriteLineAsync(CliArguments.Usage);
            return Ok;
        }

        foreach (var flag in arguments.SecretsOnCommandLine)
        {
            var variable = flag == "--token" ? CliArguments.TokenVariable : CliArguments.AdminKeyVariable;
            await errors.WriteLineAsync($"callgrains: warning: {flag} on the command line can be read by anyone on this machine (ps, /proc, shell history); set {variable} instead");
        }

        if (arguments.Command is not null)
        {
            return await AdminCommands.RunAsync(arguments, output);
        }

        CallGrainsClient client;
        try
        {
            var token = arguments.Token ?? await MintTokenAsync(arguments);
            client = await CallGrainsClient.ConnectAsync(new CallGrainsClientOptions { Server = arguments.Server, Token = token, DeviceId = arguments.DeviceId });
        }
        catch (CallGrainsException ex)
        {
            await output.WriteLineAsync(Lines.Error(ex));
            return ex.Code is ErrorCodes.UserNotLoggedIn or ErrorCodes.PermissionDenied or ErrorCodes.UidNotFound ? Refused
                : ex.Code == ErrorCodes.BadRequest ? BadArguments
                : Unreachable;
        }

        await using (client)
        {
            return await new Softphone(client, output).RunAsync(input);
        }
    }

    private static async Task<string> MintTokenAsync(CliArguments arguments)
    {
        using var admin = new CallGrainsAdminClient(arguments.Server, arguments.AdminKey!);
        if (arguments.Create)
        {
            try
            {
                await admin.CreateUserAsync(arguments.Uid!, arguments.Name ?? arguments.Uid!);
            }
            catch (CallGrainsException ex) when (ex.HttpStatus == 409)
            {
                // It exists already: fine, a token for it is what was asked for.
            }
        }

        return (await admin.IssueTokenAsync(arguments.Uid!)).Token;
    }

    private async Task<int> RunAsync(TextReader input)
    {
        Subscribe();
        Print($"connected uid={client.Uid} device={client.DeviceId} seq={client.Seq}");
        PrintView();
        while (true)
        {
            var read = input.ReadLineAsync();
            if (await Task.WhenAny(read, _closed.Task) == _closed.Task)
            {
                return await _closed.Task;
            }

            var line = await read;
            if (line is null)
            {
                return Ok;
            }

            var words = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (words.Length == 0 || words[0].StartsWith('#'))
            {
                continue;
            }

            if (words[0] is "quit" or "exit")
            {
                return Ok;
            }

            try
            {
                await ExecuteAsync(words[0], words[1..]);
            }
            catch (CallGrainsException ex)
            {
                Print(Lines.Error(ex));
            }
            catch (UsageException ex)
            {
                Print($"error ERR_BAD_REQUEST {ex.Message}");
            }
        }
    }

    private async Task ExecuteAsync(string command, string[] args)
    {
        switch (command)
        {
            case "call":
            case "call-group":
                var receiver = command == "call" ? ReceiverType.User : ReceiverType.Group;
                var type = Arg(args, 1) switch
                {
                    null or "video" => CallType.Video,
                    "audio" => CallType.Audio,
                    var other => throw new UsageException($"call type must be audio or video, not '{other}'"),
                };
                var call = await client.InitiateCallAsync(new Call(Required(args, 0, "a uid or guid to call"), type, receiver));
                Print($"ok call {Lines.Call(call)}");
                break;
            case "accept":
                Print($"ok accept {Lines.Call(await client.AcceptCallAsync(Arg(args, 0) ?? Ringing()))}");
                break;
            case "reject":
                var (session, status) = Arg(args, 0) is "busy" or "rejected" ? (Ringing(), Arg(args, 0)) : (Arg(args, 0) ?? Ringing(), Arg(args, 1));
                Print($"ok reject {Lines.Call(await client.RejectCallAsync(session, status == "busy" ? CallStatus.Busy : CallStatus.Rejected))}");
                break;
            case "cancel":
                Print($"ok cancel {Lines.Call(await client.RejectCallAsync(Current(), CallStatus.Cancelled))}");
                break;
            case "end":
                Print($"ok end {Lines.Call(await client.EndCallAsync(Arg(args, 0) ?? Current()))}");
                break;
            case "join":
                Print($"ok join {Lines.Call(await client.JoinCallAsync(Required(args, 0, "the session to join")))}");
                break;
            case "leave":
                Print($"ok leave {Lines.Call(await client.LeaveCallAsync(Arg(args, 0) ?? Current()))}");
                break;
            case "signal":
                await SignalAsync(args);
                break;
            case "token":
                var token = await client.GenerateTokenAsync(Arg(args, 0) ?? Current());
                Print($"ok token expiresAt={token.ExpiresAt.ToUnixTimeSeconds()} token={token.Token}");
                break;
            case "log":
                await LogAsync(args);
                break;
            case "push-token":
                var named = Required(args, 0, "a platform (apns-voip, apns or fcm)");
                var platform = Lines.Platform(named) ?? throw new UsageException($"platform must be apns-voip, apns or fcm, not '{named}'");
                var registered = await client.RegisterPushTokenAsync(client.DeviceId, platform, Required(args, 1, "the push token"));
                Print($"ok push-token {Lines.PushToken(registered)}");
                break;
            case "push-tokens":
                var tokens = await client.GetPushTokensAsync();
                foreach (var entry in tokens)
                {
                    Print($"push-token {Lines.PushToken(entry)}");
                }

                Print($"ok push-tokens count={tokens.Count}");
                break;
            case "push-token-remove":
                var device = Arg(args, 0) ?? client.DeviceId;
                await client.UnregisterPushTokenAsync(device);
                Print($"ok push-token-remove device={device}");
                break;
            case "status":
                PrintView();
                break;
            case "help":
                Print(CliArguments.Usage);
                break;
            default:
                throw new UsageException($"unknown command '{command}' (help lists them)");
        }
    }

    private async Task SignalAsync(string[] args)
    {
        var to = Required(args, 0, "the uid to signal");
        JsonElement data;
        try
        {
            data = JsonDocument.Parse(Required(args, 1, "a JSON object")).RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new UsageException($"signal data is not JSON: {ex.Message}");
        }

        if (data.ValueKind != JsonValueKind.Object)
        {
            throw new UsageException("signal data must be a JSON object");
        }

        var session = Current();
        await client.SendSignalAsync(session, to, data);
        Print($"ok signal session={session} to={to}");
    }

    private async Task LogAsync(string[] args)
    {
        var limit = Arg(args, 0) is { } n
            ? int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed is >= 1 and <= 100 ? parsed : throw new UsageException("log takes a count from 1 to 100")
            : 10;
        var page = await client.GetCallLogAsync(new CallLogQuery { Limit = limit });
        foreach (var entry in page.Calls)
        {
            Print(Lines.LogEntry(entry));
        }

        Print($"ok log count={page.Calls.Count} more={(page.Next is null ? "false" : "true")}");
    }

    private void PrintView()
    {
        var active = client.CurrentCall;
        var ringing = client.RingingCalls;
        Print($"status state={Lines.Lower(client.State)} uid={client.Uid} active={(active is null ? "none" : $"{active.SessionId}:{Lines.Lower(active.Status)}")} ringing={ringing.Count}");
        foreach (var call in ringing)
        {
            Print($"ringing {Lines.Call(call)}");
        }
    }

    private void Subscribe()
    {
        client.IncomingCallReceived += (_, e) => Print(Lines.Event("incomingCallReceived", e));
        client.OutgoingCallAccepted += (_, e) => Print(Lines.Event("outgoingCallAccepted", e));
        client.OutgoingCallRejected += (_, e) => Print(Lines.Event("outgoingCallRejected", e));
        client.IncomingCallCanceled += (_, e) => Print(Lines.Event("incomingCallCanceled", e, $"reason={Lines.Lower(e.Reason)}"));
        client.CallEndedMessageReceived += (_, e) => Print(Lines.Event("callEndedMessageReceived", e));
        client.UserJoined += (_, e) => Print(Lines.Event("userJoined", e, $"user={e.User.Uid}"));
        client.UserLeft += (_, e) => Print(Lines.Event("userLeft", e, $"user={e.User.Uid}"));
        client.SignalReceived += (_, e) => Print($"event signal session={e.SessionId} from={e.From} data={e.Data.GetRawText()}");
        client.ConnectionStateChanged += (_, e) =>
        {
            Print($"event connection state={Lines.Lower(e.State)}{(e.ErrorCode is null ? "" : $" code={e.ErrorCode}")}{(e.Message is null ? "" : $" message={Lines.OneLine(e.Message)}")}");
            if (e.State == ConnectionState.Disconnected)
            {
                _closed.TrySetResult(e.ErrorCode == ErrorCodes.UserNotLoggedIn ? Refused : Unreachable);
            }
        };
    }

    private string Ringing() =>
        client.RingingCalls is [var oldest, ..] ? oldest.SessionId : throw new UsageException("no call is ringing");

    private string Current() =>
        client.CurrentCall?.SessionId ?? throw new UsageException("there is no current call");

    private static string? Arg(string[] args, int index) => index < args.Length ? args[index] : null;

    private static string Required(string[] args, int index, string what) => Arg(args, index) ?? throw new UsageException($"missing {what}");

    private void Print(string line)
    {
        lock (output)
        {
            output.WriteLine(line);
            output.Flush();
        }
    }

    private sealed class UsageException(string message) : Exception(message);
}
