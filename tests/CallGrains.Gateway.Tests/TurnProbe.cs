using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace CallGrains.Gateway.Tests;

/// <summary>
/// A TURN client over UDP on loopback, as small as a test needs (RFC 5389 / 5766): Allocate with long-term credentials
/// (the 401's REALM and NONCE, then MESSAGE-INTEGRITY keyed with MD5(username:realm:password)), CreatePermission,
/// Send and Data indications. Every wait has a timeout and every retry a count.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5350", Justification = "STUN's MESSAGE-INTEGRITY is HMAC-SHA1.")]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA5351", Justification = "STUN's long-term credential key is MD5(username:realm:password).")]
public sealed class TurnProbe(IPEndPoint server) : IDisposable
{
    public const ushort Binding = 0x0001;
    private const ushort Allocate = 0x0003;
    private const ushort CreatePermission = 0x0008;
    private const ushort SendIndication = 0x0016;
    private const ushort DataIndication = 0x0017;
    private const ushort SuccessClass = 0x0100;
    private const ushort ErrorClass = 0x0110;

    private const ushort AttrUsername = 0x0006;
    private const ushort AttrMessageIntegrity = 0x0008;
    private const ushort AttrErrorCode = 0x0009;
    private const ushort AttrXorPeerAddress = 0x0012;
    private const ushort AttrData = 0x0013;
    private const ushort AttrRealm = 0x0014;
    private const ushort AttrNonce = 0x0015;
    private const ushort AttrXorRelayedAddress = 0x0016;
    private const ushort AttrRequestedTransport = 0x0019;
    private const uint MagicCookie = 0x2112A442;

    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(3);
    private const int Attempts = 5;

    private readonly UdpClient _udp = new(new IPEndPoint(IPAddress.Loopback, 0));
    private (string Username, string Realm, string Nonce, byte[] Key)? _auth;

    /// <summary>
    /// Allocates a UDP relay with these credentials: the relayed address, or the error code the server answered
    /// (401 for credentials it refuses). Throws if the server never asks for credentials or never answers.
    /// </summary>
    public async Task<(IPEndPoint? Relayed, int Error)> AllocateAsync(string username, string password)
    {
        var transportUdp = new byte[] { 17, 0, 0, 0 };
        var challenge = await RequestAsync(Allocate, [(AttrRequestedTransport, transportUdp)], authenticate: false);
        if (challenge.ErrorCode != 401 || challenge.Text(AttrRealm) is not { } realm || challenge.Text(AttrNonce) is not { } nonce)
        {
            throw new InvalidOperationException($"the TURN server did not ask for credentials (answer 0x{challenge.Type:x4}, error {challenge.ErrorCode})");
        }

        _auth = (username, realm, nonce, MD5.HashData(Encoding.UTF8.GetBytes($"{username}:{realm}:{password}")));
        var answer = await RequestAsync(Allocate, [(AttrRequestedTransport, transportUdp)], authenticate: true);
        return answer.Type == (Allocate | SuccessClass) ? (answer.Address(AttrXorRelayedAddress), 0) : (null, answer.ErrorCode);
    }

    /// <summary>Lets <paramref name="peer"/> send to the relay (and this client send to it); returns the error code, 0 on success.</summary>
    public async Task<int> PermitAsync(IPEndPoint peer)
    {
        var answer = await RequestAsync(CreatePermission, [(AttrXorPeerAddress, XorAddress(peer))], authenticate: true);
        return answer.Type == (CreatePermission | SuccessClass) ? 0 : answer.ErrorCode;
    }

    /// <summary>Sends data through the relay to a peer (a Send indication: no answer).</summary>
    public async Task SendAsync(IPEndPoint peer, byte[] data) =>
        await _udp.SendAsync(Build(SendIndication, NewTransactionId(), [(AttrXorPeerAddress, XorAddress(peer)), (AttrData, data)], null), server);

    /// <summary>The next data a peer sent to the relay (a Data indication), with the peer's address.</summary>
    public async Task<(IPEndPoint Peer, byte[] Data)> ReceiveDataAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        for (var i = 0; i < 20; i++)
        {
            var message = Parse((await _udp.ReceiveAsync(cts.Token)).Buffer);
            if (message.Type == DataIndication && message.Address(AttrXorPeerAddress) is { } peer && message.Attributes.TryGetValue(AttrData, out var data))
            {
                return (peer, data);
            }
        }

        throw new InvalidOperationException("no Data indication among 20 messages");
    }

    /// <summary>Whether a STUN server answers a Binding request on <paramref name="server"/> within a second.</summary>
    public static async Task<bool> AnswersBindingAsync(IPEndPoint server)
    {
        using var probe = new TurnProbe(server);
        var transaction = NewTransactionId();
        await probe._udp.SendAsync(Build(Binding, transaction, [], null), server);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var answer = Parse((await probe._udp.ReceiveAsync(cts.Token)).Buffer);
            return answer.Type == (Binding | SuccessClass) && answer.TransactionId.SequenceEqual(transaction);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            return false;
        }
    }

    public void Dispose() => _udp.Dispose();

    private async Task<Message> RequestAsync(ushort method, (ushort Type, byte[] Value)[] attributes, bool authenticate)
    {
        var transaction = NewTransactionId();
        (string Username, string Realm, string Nonce, byte[] Key)? auth = authenticate ? _auth ?? throw new InvalidOperationException("no credentials yet") : null;
        List<(ushort, byte[])> all = [.. attributes];
        if (auth is var (username, realm, nonce, _))
        {
            all.AddRange([(AttrUsername, Encoding.UTF8.GetBytes(username)), (AttrRealm, Encoding.UTF8.GetBytes(realm)), (AttrNonce, Encoding.UTF8.GetBytes(nonce))]);
        }

        var request = Build(method, transaction, [.. all], auth?.Key);
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            await _udp.SendAsync(request, server);
            using var cts = new CancellationTokenSource(AnswerTimeout);
            try
            {
                // Indications or late answers to an earlier attempt may come first: skip a bounded number of them.
                for (var skipped = 0; skipped < 20; skipped++)
                {
                    var answer = Parse((await _udp.ReceiveAsync(cts.Token)).Buffer);
                    if (answer.TransactionId.SequenceEqual(transaction) && (answer.Type & 0x0110) is SuccessClass or ErrorClass)
                    {
                        return answer;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        throw new TimeoutException($"no answer from the TURN server at {server} after {Attempts} attempts");
    }

    private static byte[] NewTransactionId() => RandomNumberGenerator.GetBytes(12);

    /// <summary>A STUN message; with a key, MESSAGE-INTEGRITY last (its HMAC over the message with the length counting it).</summary>
    private static byte[] Build(ushort type, byte[] transaction, (ushort Type, byte[] Value)[] attributes, byte[]? key)
    {
        using var body = new MemoryStream();
        foreach (var (attribute, value) in attributes)
        {
            WriteAttribute(body, attribute, value);
        }

        var integrityLength = key is null ? 0 : 24;
        var message = new byte[20 + body.Length + integrityLength];
        BinaryPrimitives.WriteUInt16BigEndian(message, type);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(2), (ushort)(body.Length + integrityLength));
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(4), MagicCookie);
        transaction.CopyTo(message, 8);
        body.ToArray().CopyTo(message, 20);
        if (key is not null)
        {
            var at = 20 + (int)body.Length;
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(at), AttrMessageIntegrity);
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(at + 2), 20);
            HMACSHA1.HashData(key, message.AsSpan(0, at)).CopyTo(message, at + 4);
        }

        return message;
    }

    private static void WriteAttribute(MemoryStream body, ushort type, byte[] value)
    {
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(header, type);
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)value.Length);
        body.Write(header);
        body.Write(value);
        body.Write(new byte[(4 - (value.Length % 4)) % 4]);
    }

    private static byte[] XorAddress(IPEndPoint endpoint)
    {
        var value = new byte[8];
        value[1] = 0x01;
        BinaryPrimitives.WriteUInt16BigEndian(value.AsSpan(2), (ushort)(endpoint.Port ^ (MagicCookie >> 16)));
        BinaryPrimitives.WriteUInt32BigEndian(value.AsSpan(4), BinaryPrimitives.ReadUInt32BigEndian(endpoint.Address.MapToIPv4().GetAddressBytes()) ^ MagicCookie);
        return value;
    }

    private static Message Parse(byte[] packet)
    {
        if (packet.Length < 20 || BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(4)) != MagicCookie)
        {
            return new Message(0, [], []);
        }

        var attributes = new Dictionary<ushort, byte[]>();
        var end = Math.Min(packet.Length, 20 + BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(2)));
        for (var at = 20; at + 4 <= end;)
        {
            var type = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(at));
            var length = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(at + 2));
            if (at + 4 + length > end)
            {
                break;
            }

            attributes.TryAdd(type, packet.AsSpan(at + 4, length).ToArray());
            at += 4 + ((length + 3) & ~3);
        }

        return new Message(BinaryPrimitives.ReadUInt16BigEndian(packet), packet[8..20], attributes);
    }

    private sealed record Message(ushort Type, byte[] TransactionId, Dictionary<ushort, byte[]> Attributes)
    {
        public int ErrorCode => Attributes.TryGetValue(AttrErrorCode, out var e) && e.Length >= 4 ? ((e[2] & 0x07) * 100) + e[3] : 0;

        public string? Text(ushort type) => Attributes.TryGetValue(type, out var v) ? Encoding.UTF8.GetString(v) : null;

        public IPEndPoint? Address(ushort type)
        {
            if (!Attributes.TryGetValue(type, out var v) || v.Length != 8 || v[1] != 0x01)
            {
                return null;
            }

            var address = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(address, BinaryPrimitives.ReadUInt32BigEndian(v.AsSpan(4)) ^ MagicCookie);
            return new IPEndPoint(new IPAddress(address), BinaryPrimitives.ReadUInt16BigEndian(v.AsSpan(2)) ^ (int)(MagicCookie >> 16));
        }
    }
}
