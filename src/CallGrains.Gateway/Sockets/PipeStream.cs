using System.Buffers;
using System.IO.Pipelines;

namespace CallGrains.Gateway.Sockets;

/// <summary>
/// A connection's transport as the stream a <see cref="System.Net.WebSockets.WebSocket"/> reads and writes. A
/// zero-byte read waits for data without taking any of it, which is what lets an idle socket hold no buffer.
/// </summary>
internal sealed class PipeStream(IDuplexPipe transport) : Stream
{
    private volatile bool _disposed;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!_disposed)
        {
            var result = await transport.Input.ReadAsync(cancellationToken);
            var data = result.Buffer;
            if (data.IsEmpty)
            {
                transport.Input.AdvanceTo(data.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return 0;
                }

                continue;
            }

            if (buffer.IsEmpty)
            {
                // Data is there: say so, and leave it for the next read.
                transport.Input.AdvanceTo(data.Start);
                return 0;
            }

            var count = (int)Math.Min(data.Length, buffer.Length);
            data.Slice(0, count).CopyTo(buffer.Span);
            transport.Input.AdvanceTo(data.GetPosition(count));
            return count;
        }

        // Disposed: the end of the stream, also for a read that follows a zero-byte one.
        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var flushed = await transport.Output.WriteAsync(buffer, cancellationToken);
        if (flushed.IsCanceled)
        {
            throw new OperationCanceledException(cancellationToken);
        }

        if (flushed.IsCompleted)
        {
            // The transport stopped taking data: the connection is gone.
            throw new IOException("the connection was closed");
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read asynchronously");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("write asynchronously");

    /// <summary>
    /// The socket is done with the stream (closed, or aborted because its peer stopped answering): a read or write
    /// still waiting on the peer ends now instead of when the peer acts.
    /// </summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _disposed = true;
            transport.Input.CancelPendingRead();
            transport.Output.CancelPendingFlush();
        }

        base.Dispose(disposing);
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
