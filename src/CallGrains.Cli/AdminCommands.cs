using System.Globalization;
using CallGrains.Client;

namespace CallGrains.Cli;

/// <summary>
/// The operator's commands (<c>callgrains webhooks</c> and the like): run once with the admin key, no softphone, and
/// print what the softphone prints: one line per item, then <c>ok &lt;command&gt; ...</c> or <c>error &lt;CODE&gt; &lt;message&gt;</c>.
/// </summary>
internal static class AdminCommands
{
    public static readonly IReadOnlyList<string> Names = ["webhook-add", "webhooks", "webhook-remove", "webhook-deliveries"];

    /// <summary>What is wrong with a command's words, or null; checked before anything connects.</summary>
    public static string? Check(string command, IReadOnlyList<string> args) => command switch
    {
        "webhook-add" when args.Count == 0 || args[0].StartsWith("--", StringComparison.Ordinal) => "webhook-add needs the endpoint's url",
        "webhooks" when args.Count > 0 => "webhooks takes no arguments",
        "webhook-remove" when args.Count != 1 => "webhook-remove takes one endpoint id",
        "webhook-deliveries" => ReadDeliveryArgs(args).Problem,
        _ => null,
    };

    public static async Task<int> RunAsync(CliArguments arguments, TextWriter output)
    {
        using var admin = new CallGrainsAdminClient(arguments.Server, arguments.AdminKey!);
        try
        {
            foreach (var line in await ExecuteAsync(admin, arguments.Command!, arguments.CommandArgs))
            {
                await output.WriteLineAsync(line);
            }

            return Softphone.Ok;
        }
        catch (CallGrainsException ex)
        {
            await output.WriteLineAsync(Lines.Error(ex));
            return ex.Code switch
            {
                ErrorCodes.PermissionDenied or ErrorCodes.UserNotLoggedIn => Softphone.Refused,
                ErrorCodes.NotConnected or ErrorCodes.Timeout => Softphone.Unreachable,
                _ => Softphone.CommandRefused,
            };
        }
    }

    private static async Task<IReadOnlyList<string>> ExecuteAsync(CallGrainsAdminClient admin, string command, IReadOnlyList<string> args)
    {
        switch (command)
        {
            case "webhook-add":
                var created = await admin.CreateWebhookAsync(args[0], args.Count > 1 ? args.Skip(1) : ["*"]);
                return [$"ok webhook-add {Webhook(created)} secret={created.Secret}"];
            case "webhooks":
                var endpoints = await admin.GetWebhooksAsync();
                return [.. endpoints.Select(e => $"webhook {Webhook(e)}"), $"ok webhooks count={endpoints.Count}"];
            case "webhook-remove":
                await admin.DeleteWebhookAsync(args[0]);
                return [$"ok webhook-remove id={args[0]}"];
            default:
                var (status, limit, _) = ReadDeliveryArgs(args);
                var deliveries = await admin.GetWebhookDeliveriesAsync(args[0], status, limit);
                return [.. deliveries.SelectMany(Delivery), $"ok webhook-deliveries count={deliveries.Count}"];
        }
    }

    /// <summary><c>&lt;id&gt; [--status S] [--limit N]</c>, or what is wrong with them.</summary>
    private static (WebhookDeliveryStatus? Status, int? Limit, string? Problem) ReadDeliveryArgs(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            return (null, null, "webhook-deliveries needs the endpoint's id");
        }

        WebhookDeliveryStatus? status = null;
        int? limit = null;
        for (var i = 1; i < args.Count; i += 2)
        {
            var value = i + 1 < args.Count ? args[i + 1] : null;
            switch (args[i])
            {
                case "--status" when value is "pending" or "delivered" or "failed":
                    status = Enum.Parse<WebhookDeliveryStatus>(value, ignoreCase: true);
                    break;
                case "--status":
                    return (null, null, "--status must be pending, delivered or failed");
                case "--limit" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 100:
                    limit = n;
                    break;
                case "--limit":
                    return (null, null, "--limit must be a whole number from 1 to 100");
                default:
                    return (null, null, $"unknown argument '{args[i]}' for webhook-deliveries");
            }
        }

        return (status, limit, null);
    }

    private static string Webhook(WebhookEndpoint endpoint) =>
        $"id={endpoint.Id} url={endpoint.Url} events={string.Join(',', endpoint.Events)} createdAt={Time(endpoint.CreatedAt)}"
        + (endpoint.DisabledAt is { } at ? $" disabledAt={Time(at)} reason={Lines.OneLine(endpoint.DisabledReason ?? "")}" : "");

    /// <summary>A delivery's line, then one line per attempt (the error last: it may hold spaces).</summary>
    private static IEnumerable<string> Delivery(WebhookDelivery delivery)
    {
        yield return $"delivery webhookId={delivery.WebhookId} type={delivery.Type} session={delivery.SessionId} status={Lines.Lower(delivery.Status)}"
            + $" createdAt={Time(delivery.CreatedAt)} attempts={delivery.Attempts.Count}"
            + (delivery.NextAttemptAt is { } next ? $" nextAttemptAt={Time(next)}" : "");
        foreach (var attempt in delivery.Attempts)
        {
            yield return $"attempt webhookId={delivery.WebhookId} at={Time(attempt.At)} statusCode={attempt.StatusCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}"
                + $" latencyMs={attempt.LatencyMs.ToString("0.#", CultureInfo.InvariantCulture)}"
                + (attempt.Error is { } error ? $" error={Lines.OneLine(error)}" : "");
        }
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
