using System.Text;
using CallGrains.Abstractions;

namespace CallGrains.Gateway.Protocol;

/// <summary>The wire's text for the grains' pushes: the same writer and names the sockets get.</summary>
public sealed class WireText : IWireText
{
    public string CallJson(CallInfo callInfo) => Encoding.UTF8.GetString(Wire.Write(w => Wire.WriteCall(w, callInfo)));

    public string CompactCallJson(CallInfo callInfo) => Encoding.UTF8.GetString(Wire.Write(w => Wire.WriteCompactCall(w, callInfo)));

    public string Name(CancelReason reason) => reason.Name();
}
