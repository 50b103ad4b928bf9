using System.Net;

namespace Cybexp.Report.Service.Notification;

/// <summary>
/// Where query-end notifications may go. A query names <c>host:port</c>; the loopback names the original API writes
/// (<c>0.0.0.0</c>, <c>127.0.0.1</c>, <c>localhost</c>, <c>::1</c>) stand for the API host, <see cref="ApiHost"/>. The
/// resulting host must be the API host or appear in <see cref="AllowedHosts"/>; anything else is refused without a
/// connection attempt (and without a DNS lookup).
/// </summary>
public sealed record NotifierOptions
{
    /// <summary>The loopback names that stand for the API host, as the original report module maps them.</summary>
    public static readonly IReadOnlyList<string> LoopbackNames = ["0.0.0.0", "127.0.0.1", "localhost", "::1"];

    /// <summary>The default allow-list: loopback only.</summary>
    public static readonly IReadOnlyList<string> LoopbackOnly = ["localhost", "127.0.0.1", "::1"];

    /// <summary>The host the API runs on (the original's <c>api.host</c>); default <c>localhost</c>.</summary>
    public string ApiHost { get; init; } = "localhost";

    /// <summary>Host names or IP addresses notifications may go to besides <see cref="ApiHost"/>; default loopback only.</summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = LoopbackOnly;

    /// <summary>Connect plus send must finish within this; default 2 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The host a notification for <paramref name="host"/> goes to: the API host for loopback names, else itself.</summary>
    public string Target(string host) =>
        LoopbackNames.Any(n => SameHost(n, host)) ? ApiHost : host;

    /// <summary>True when <paramref name="target"/> (after <see cref="Target"/>) may be connected to.</summary>
    public bool Allows(string target) =>
        SameHost(target, ApiHost) || AllowedHosts.Any(a => SameHost(a, target));

    /// <summary>Host names compare case-insensitively; IP addresses by value (so <c>::1</c> equals <c>0:0:0:0:0:0:0:1</c>).</summary>
    public static bool SameHost(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        a = a.Trim().TrimStart('[').TrimEnd(']');
        b = b.Trim().TrimStart('[').TrimEnd(']');
        return IPAddress.TryParse(a, out var ia) && IPAddress.TryParse(b, out var ib)
            ? ia.Equals(ib)
            : string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
    }
}
