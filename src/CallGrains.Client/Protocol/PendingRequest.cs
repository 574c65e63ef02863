namespace CallGrains.Client.Protocol;

/// <summary>A request sent on a <see cref="ProtocolConnection"/>, waiting for its response.</summary>
public sealed class PendingRequest
{
    private readonly TaskCompletionSource<ProtocolMessage?> _response = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal PendingRequest(string id, string op)
    {
        Id = id;
        Op = op;
    }

    /// <summary>The request's id, which its response carries.</summary>
    public string Id { get; }

    /// <summary>The request's op.</summary>
    public string Op { get; }

    /// <summary>Completes with the response, or with null if the connection closes first (it never fails).</summary>
    public Task<ProtocolMessage?> Response => _response.Task;

    internal void Complete(ProtocolMessage? response) => _response.TrySetResult(response);
}
