using System.Diagnostics;

namespace Cybexp.Report.Service.Tests.Http;

/// <summary>
/// A clock that starts at a chosen instant and runs at real speed from there (so the store's and the API's
/// timeouts really elapse), and can be moved forward by a test (to reach the next clock hour).
/// </summary>
internal sealed class TestClock(DateTimeOffset start) : TimeProvider
{
    private readonly long _origin = Stopwatch.GetTimestamp();
    private long _shiftTicks;

    /// <summary>2021-07-01T00:00:00Z, the "now" of the golden report vectors.</summary>
    public static DateTimeOffset VectorNow { get; } = DateTimeOffset.FromUnixTimeSeconds(1625097600);

    public override DateTimeOffset GetUtcNow() =>
        start + Stopwatch.GetElapsedTime(_origin) + TimeSpan.FromTicks(Interlocked.Read(ref _shiftTicks));

    /// <summary>Moves the clock forward by <paramref name="by"/>.</summary>
    public void Advance(TimeSpan by) => Interlocked.Add(ref _shiftTicks, by.Ticks);
}
