namespace Cybexp.Report.Core.Storage;

/// <summary>Epoch-seconds view of a <see cref="TimeProvider"/>, the unit every stored time uses.</summary>
public static class EpochClock
{
    /// <summary>Seconds since 1970-01-01 UTC, with millisecond precision.</summary>
    public static double NowSeconds(this TimeProvider time) => time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0;
}
