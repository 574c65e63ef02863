using System.Globalization;

namespace CallGrains.Cli;

/// <summary>The command line of <c>callgrains</c>: where to connect and as whom.</summary>
internal sealed record CliArguments
{
    public const string Usage = """
        callgrains: a CallGrains softphone. Commands on stdin, one per line; events and results on stdout, one per line.

        usage: callgrains --server URL [--device ID]                                  (CALLGRAINS_TOKEN set)
               callgrains --server URL --uid UID [--create [--name NAME]] [--device ID]  (CALLGRAINS_ADMIN_KEY set)
               callgrains --server URL ADMIN-COMMAND [ARGS...]                   (CALLGRAINS_ADMIN_KEY set)

          --server URL       the CallGrains server (default http://localhost:5080)
          --uid UID          mint a token for UID with the admin API (needs the admin key)
          --token TOKEN      the user's auth token: better in CALLGRAINS_TOKEN (the command line shows in ps)
          --admin-key KEY    the server's admin key (Auth:AdminKey), for --uid: better in CALLGRAINS_ADMIN_KEY
          --create           with --uid: create the user first if it does not exist
          --name NAME        with --create: the user's display name (default: the uid)
          --device ID        this device's id (default: one the server chooses)
          --help             print this and exit

        commands:
          call <uid> [audio|video]     call a user (default video)
          call-group <guid> [audio|video]
          accept [sessionId]           answer (default: the oldest ringing call)
          reject [sessionId] [busy]    decline (default: the oldest ringing call)
          cancel                       cancel this user's ringing outgoing call
          end                          end the current call
          join <sessionId>             join a live group call
          leave                        leave the current group call
          signal <uid> <json>          send signalling data to a participant of the current call
          token [sessionId]            get a media token (default: the current call)
          log [n]                      the last n calls of the log (default 10)
          push-token <apns-voip|apns|fcm> <token>
                                       register this device's push token for the platform
          push-tokens                  list this user's push tokens
          push-token-remove [deviceId] remove a device's push tokens (default: this device)
          status                       connection, current call, ringing calls
          help                         list the commands
          quit                         leave (so does end of input)

        admin commands (run once and exit, with the admin key; flags before the command):
          webhook-add <url> [event...] add a webhook endpoint for the events (call.ended ...; default *: all);
                                       prints its signing secret, shown this once
          webhooks                     list the webhook endpoints
          webhook-remove <id>          remove a webhook endpoint
          webhook-deliveries <id> [--status pending|delivered|failed] [--limit N]
                                       its recent deliveries, newest first, each with its attempts

        output: "event <name> session=... key=value..." as events arrive, "ok <command> ..." for a command done,
        "error <CODE> <message>" for one that failed. Exit status: 0 on quit or end of input (or an admin command
        done), 1 when the server refuses an admin command (a bad url, an unknown id), 2 for bad arguments,
        3 when the server refuses the token or the admin key, 4 when the server cannot be reached.
        """;

    public Uri Server { get; init; } = new("http://localhost:5080");

    public string? Token { get; init; }

    public string? Uid { get; init; }

    public string? AdminKey { get; init; }

    public bool Create { get; init; }

    public string? Name { get; init; }

    public string? DeviceId { get; init; }

    public bool Help { get; init; }

    /// <summary>An admin command to run once instead of the softphone (<see cref="AdminCommands.Names"/>), or null.</summary>
    public string? Command { get; init; }

    /// <summary>The words after <see cref="Command"/>.</summary>
    public IReadOnlyList<string> CommandArgs { get; init; } = [];

    /// <summary>The secrets given on the command line, where any user of the machine can read them (ps, /proc).</summary>
    public IReadOnlyList<string> SecretsOnCommandLine { get; init; } = [];

    public const string TokenVariable = "CALLGRAINS_TOKEN";

    public const string AdminKeyVariable = "CALLGRAINS_ADMIN_KEY";

    /// <summary>
    /// The arguments, or what is wrong with them. Secrets come from <see cref="TokenVariable"/> and
    /// <see cref="AdminKeyVariable"/> (read through <paramref name="environment"/>) unless a flag gives them.
    /// </summary>
    public static (CliArguments? Arguments, string? Problem) Parse(IReadOnlyList<string> args, Func<string, string?>? environment = null)
    {
        var (parsed, problem) = ParseFlags(args);
        if (parsed is null || parsed.Help)
        {
            return (parsed, problem);
        }

        environment ??= Environment.GetEnvironmentVariable;
        if (parsed.Command is { } command)
        {
            return ParseAdminCommand(parsed, command, environment);
        }

        parsed = parsed with
        {
            SecretsOnCommandLine = [.. new[] { ("--token", parsed.Token), ("--admin-key", parsed.AdminKey) }.Where(s => s.Item2 is not null).Select(s => s.Item1)],
            Token = parsed.Token ?? (parsed.Uid is null ? NonEmpty(environment(TokenVariable)) : null),
            AdminKey = parsed.AdminKey ?? (parsed.Uid is not null ? NonEmpty(environment(AdminKeyVariable)) : null),
        };
        return (parsed.Token, parsed.Uid, parsed.AdminKey) switch
        {
            (not null, null, null) => (parsed, null),
            (null, not null, not null) => (parsed, null),
            (not null, _, _) => (null, "give either --token or --uid with --admin-key, not both"),
            (null, not null, null) => (null, $"--uid needs the admin key ({AdminKeyVariable}) to mint a token"),
            _ => (null, $"a token ({TokenVariable}), or --uid with the admin key ({AdminKeyVariable}), is required"),
        };
    }

    private static (CliArguments? Arguments, string? Problem) ParseAdminCommand(CliArguments parsed, string command, Func<string, string?> environment)
    {
        if (parsed.Token is not null || parsed.Uid is not null)
        {
            return (null, $"{command} is an admin command: it takes the admin key, not --token or --uid");
        }

        if (AdminCommands.Check(command, parsed.CommandArgs) is { } problem)
        {
            return (null, problem);
        }

        parsed = parsed with
        {
            SecretsOnCommandLine = parsed.AdminKey is null ? [] : ["--admin-key"],
            AdminKey = parsed.AdminKey ?? NonEmpty(environment(AdminKeyVariable)),
        };
        return parsed.AdminKey is null ? (null, $"{command} needs the admin key ({AdminKeyVariable})") : (parsed, null);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static (CliArguments? Arguments, string? Problem) ParseFlags(IReadOnlyList<string> args)
    {
        var parsed = new CliArguments();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name is "--help" or "-h")
            {
                return (parsed with { Help = true }, null);
            }

            if (AdminCommands.Names.Contains(name, StringComparer.Ordinal))
            {
                return (parsed with { Command = name, CommandArgs = [.. args.Skip(i + 1)] }, null);
            }

            if (name == "--create")
            {
                parsed = parsed with { Create = true };
                continue;
            }

            if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                return (null, $"{name} needs a value");
            }

            var value = args[++i];
            switch (name)
            {
                case "--server" when Uri.TryCreate(value, UriKind.Absolute, out var server) && server.Scheme is "http" or "https":
                    parsed = parsed with { Server = server };
                    break;
                case "--server":
                    return (null, $"--server must be an http or https address, not '{value}'");
                case "--token":
                    parsed = parsed with { Token = value };
                    break;
                case "--uid":
                    parsed = parsed with { Uid = value };
                    break;
                case "--admin-key":
                    parsed = parsed with { AdminKey = value };
                    break;
                case "--name":
                    parsed = parsed with { Name = value };
                    break;
                case "--device":
                    parsed = parsed with { DeviceId = value };
                    break;
                default:
                    return (null, string.Create(CultureInfo.InvariantCulture, $"unknown argument '{name}'"));
            }
        }

        return (parsed, null);
    }
}
