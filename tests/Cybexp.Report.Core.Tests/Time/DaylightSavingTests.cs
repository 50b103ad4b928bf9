using Cybexp.Report.Core.Time;

namespace Cybexp.Report.Core.Tests.Time;

/// <summary>
/// Wall times at clock changes, read as pytz's <c>localize(dt, is_dst=False)</c> reads them:
/// an ambiguous time is the standard-time occurrence, a skipped time keeps the offset from
/// before the jump.
/// </summary>
public sealed class DaylightSavingTests
{
    private static double Start(string from, string tzname)
    {
        var result = TimeRangeResolver.Resolve(from, null, null, tzname, 1_700_000_000);
        Assert.True(result.Success, result.ToString());
        return result.Value.Start;
    }

    private static double Utc(int year, int month, int day, int hour, int minute) =>
        new DateTimeOffset(year, month, day, hour, minute, 0, TimeSpan.Zero).ToUnixTimeSeconds();

    [Theory]
    // Los Angeles, 2021-03-14: 02:00 PST jumps to 03:00 PDT.
    [InlineData("2021-03-14 01:59", "America/Los_Angeles", 2021, 3, 14, 9, 59)]
    [InlineData("2021-03-14 02:00", "America/Los_Angeles", 2021, 3, 14, 10, 0)]
    [InlineData("2021-03-14 02:30", "America/Los_Angeles", 2021, 3, 14, 10, 30)]
    [InlineData("2021-03-14 03:00", "America/Los_Angeles", 2021, 3, 14, 10, 0)]
    // Berlin, 2021-03-28: 02:00 CET jumps to 03:00 CEST.
    [InlineData("2021-03-28 02:30", "Europe/Berlin", 2021, 3, 28, 1, 30)]
    [InlineData("2021-03-28 03:00", "Europe/Berlin", 2021, 3, 28, 1, 0)]
    public void SkippedTime_KeepsTheOffsetFromBeforeTheJump(string from, string zone, int y, int mo, int d, int h, int mi)
    {
        Assert.Equal(Utc(y, mo, d, h, mi), Start(from, zone));
    }

    [Theory]
    // Los Angeles, 2021-11-07: 02:00 PDT falls back to 01:00 PST; 01:30 happens twice.
    [InlineData("2021-11-07 00:59", "America/Los_Angeles", 2021, 11, 7, 7, 59)]
    [InlineData("2021-11-07 01:00", "America/Los_Angeles", 2021, 11, 7, 9, 0)]
    [InlineData("2021-11-07 01:30", "America/Los_Angeles", 2021, 11, 7, 9, 30)]
    [InlineData("2021-11-07 02:00", "America/Los_Angeles", 2021, 11, 7, 10, 0)]
    // Berlin, 2021-10-31: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    [InlineData("2021-10-31 02:30", "Europe/Berlin", 2021, 10, 31, 1, 30)]
    [InlineData("2021-10-31 01:59", "Europe/Berlin", 2021, 10, 30, 23, 59)]
    public void AmbiguousTime_TakesTheStandardTimeOccurrence(string from, string zone, int y, int mo, int d, int h, int mi)
    {
        Assert.Equal(Utc(y, mo, d, h, mi), Start(from, zone));
    }

    [Fact]
    public void OwnOffset_DecidesAnAmbiguousTime()
    {
        // The daylight occurrence can still be named by writing its offset.
        Assert.Equal(Utc(2021, 11, 7, 8, 30), Start("2021-11-07 01:30 -07:00", "America/Los_Angeles"));
    }
}
