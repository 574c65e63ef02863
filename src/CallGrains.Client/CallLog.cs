namespace CallGrains.Client;

/// <summary>Which side of a call a user was on.</summary>
public enum CallDirection
{
    /// <summary>The user was called.</summary>
    Incoming,

    /// <summary>The user called.</summary>
    Outgoing,
}

/// <summary>Filters and paging for <see cref="CallGrainsClient.GetCallLogAsync"/> (<c>GET /v1/calls</c>); null means "any".</summary>
public sealed record CallLogQuery
{
    /// <summary>Entries per page, 1-100; null for the server's default (30).</summary>
    public int? Limit { get; init; }

    /// <summary>The <see cref="CallLogPage.Next"/> of the previous page (with the same filters), or null for the first page.</summary>
    public string? Cursor { get; init; }

    /// <summary>Only calls that settled with this status.</summary>
    public CallStatus? Status { get; init; }

    /// <summary>Only audio or only video calls.</summary>
    public CallType? CallType { get; init; }

    /// <summary>Only calls this user made, or only calls they received.</summary>
    public CallDirection? Direction { get; init; }

    /// <summary>Only 1:1 calls, or only group calls.</summary>
    public ReceiverType? ReceiverType { get; init; }

    /// <summary>true: only missed calls (incoming, neither joined nor declined); false: only the others.</summary>
    public bool? Missed { get; init; }
}

/// <summary>One settled call in a user's log, seen from that user's side.</summary>
/// <param name="Call">The call as it ended.</param>
/// <param name="Direction">Whether this user made or received it.</param>
/// <param name="Missed">True for an incoming call this user neither joined nor declined.</param>
public sealed record CallLogEntry(CallInfo Call, CallDirection Direction, bool Missed);

/// <summary>One page of a call log, newest first.</summary>
/// <param name="Calls">The entries of this page (a filtered page may hold fewer than the limit, even none, and still have a next page).</param>
/// <param name="Next">The cursor of the next page, or null when the log has been read to its end.</param>
public sealed record CallLogPage(IReadOnlyList<CallLogEntry> Calls, string? Next);

/// <summary>A media token for one call session (<see cref="CallGrainsClient.GenerateTokenAsync"/>).</summary>
/// <param name="Token">A JWT (HS256) with the claims <c>sub</c> (uid), <c>sid</c> (session) and <c>exp</c>, for the media server.</param>
/// <param name="ExpiresAt">When it expires (at most an hour from now).</param>
public sealed record CallToken(string Token, DateTimeOffset ExpiresAt);

/// <summary>A user's auth token, minted by <see cref="CallGrainsAdminClient.IssueTokenAsync"/>.</summary>
/// <param name="Token">The token to connect with (<see cref="CallGrainsClientOptions.Token"/>).</param>
/// <param name="ExpiresAt">When it expires.</param>
public sealed record AuthToken(string Token, DateTimeOffset ExpiresAt);
