using Cybexp.Report.Core.Time;

namespace Cybexp.Report.Core.Tests.Time;

public sealed class TimeRangeResolverTests
{
    private const double Now = 1_700_000_000.25; // 2023-11-14T22:13:20.25Z

    private static TimeRange Ok(string? from = null, string? to = null, string? last = null, string? tzname = null)
    {
        var result = TimeRangeResolver.Resolve(from, to, last, tzname, Now);
        Assert.True(result.Success, result.ToString());
        return result.Value;
    }

    private static TimeRangeError Error(string? from = null, string? to = null, string? last = null, string? tzname = null)
    {
        var result = TimeRangeResolver.Resolve(from, to, last, tzname, Now);
        Assert.False(result.Success, $"expected an error, got {result}");
        Assert.Contains($"'{result.Error.Field}'", result.Error.Message, StringComparison.Ordinal);
        return result.Error;
    }

    [Fact]
    public void NothingGiven_IsEverythingUpToNow()
    {
        var range = Ok();
        Assert.Equal(new TimeRange(0, Now), range);
        Assert.False(range.HasStart);
    }

    [Fact]
    public void EmptyStrings_CountAsNotGiven()
    {
        Assert.Equal(new TimeRange(0, Now), Ok(from: "", to: "", last: "", tzname: ""));
    }

    [Fact]
    public void Garbage_NamesFieldValueAndAcceptedForms()
    {
        Assert.Equal(
            "'from' must be epoch seconds or a date such as 2020-05-21 14:00 or May 21 2020 2pm, got 'garbage'",
            Error(from: "garbage").Message);
        Assert.Equal("to", Error(to: "   ").Field);
    }

    [Fact]
    public void LastWithoutSpace_OnlyTakesOneLetterUnits()
    {
        Assert.Equal(
            "'last' must be a count and a unit such as '5 days', '12h' or '3 M' (units: s, m, h, d, w, M, Y and their long names), got '678sec'",
            Error(last: "678sec").Message);
        Assert.Equal(Now - 678, Ok(last: "678 sec").Start);
    }

    [Theory]
    [InlineData("5m", 300)]
    [InlineData("5M", 5 * 2_629_800)]
    [InlineData("2 weeks", 1_209_600)]
    [InlineData("-5d", -432_000)]
    [InlineData("1_0 s", 10)]
    [InlineData("٣ h", 10_800)] // Arabic-Indic digit three, as Python's int() reads it
    public void Last_CountsUnitsCaseSensitively(string last, double seconds)
    {
        var range = Ok(last: last);
        Assert.Equal(Now, range.End);
        Assert.Equal(Now - seconds, range.Start);
    }

    [Fact]
    public void Last_WithFromOrTo_IsRefused()
    {
        var error = Error(from: "100", last: "5s");
        Assert.Equal("last", error.Field);
        Assert.StartsWith("Don't specify both 'last' and 'from/to'!", error.Message, StringComparison.Ordinal);
        Assert.Equal("last", Error(to: "May 1 2020", last: "1 d").Field);
    }

    [Fact]
    public void UnknownZone_NamesExamples()
    {
        Assert.Equal(
            "'tzname' must be an IANA time zone name such as UTC or America/Los_Angeles, got 'Mars/Olympus'",
            Error(tzname: "Mars/Olympus").Message);
        Assert.Equal("tzname", Error(tzname: " UTC").Field);
    }

    [Theory]
    [InlineData("america/los_angeles", 1609488000)] // 2021-01-01 00:00 PST
    [InlineData("Etc/GMT_plus_5", 1609477200)] // pytz spelling of Etc/GMT+5, i.e. UTC-5
    [InlineData("uTc", 1609459200)]
    public void ZoneNames_MatchAsPytzMatchesThem(string tzname, double start)
    {
        Assert.Equal(start, Ok(from: "2021-01-01", tzname: tzname).Start);
    }

    [Theory]
    [InlineData("GMT0")]
    [InlineData("Zulu")]
    [InlineData("UCT")]
    [InlineData("Etc/GMT-14")]
    [InlineData("EST5EDT")]
    [InlineData("US/Pacific")]
    [InlineData("Asia/Calcutta")]
    public void LegacyZoneNames_AreKnown(string tzname)
    {
        Assert.True(TimeRangeResolver.Resolve("2021-01-01", null, null, tzname, Now).Success, tzname);
    }

    [Fact]
    public void OffsetBeyondEighteenHours_IsRefused()
    {
        Assert.Equal(
            "'from' is not a valid date (the UTC offset of 99 hours is out of range, at most 18), got '2021-01-01 10:00 +99'",
            Error(from: "2021-01-01 10:00 +99").Message);
    }

    [Theory]
    [InlineData("inf")]
    [InlineData("-Infinity")]
    [InlineData("NaN")]
    [InlineData("1e400")]
    public void NonFiniteBounds_AreRefused(string text)
    {
        var error = Error(to: text);
        Assert.Equal("to", error.Field);
        Assert.Equal($"'to' must be a finite number of epoch seconds or a date, got '{text}'", error.Message);
    }

    [Theory]
    [InlineData("1e9", 1e9)]
    [InlineData(" 12.5 ", 12.5)]
    [InlineData("+3", 3)]
    [InlineData("1_000.000_1", 1000.0001)]
    [InlineData(".5", 0.5)]
    [InlineData("5.", 5)]
    [InlineData("-1e-400", 0)]
    public void NumericBounds_FollowPythonFloat(string text, double expected)
    {
        Assert.Equal(expected, Ok(from: text).Start);
    }

    [Theory]
    [InlineData("1__000")]
    [InlineData("_1")]
    [InlineData("1_")]
    [InlineData("0x10")]
    [InlineData("1e")]
    [InlineData("+-1")]
    public void NearNumbers_AreNotNumbers(string text)
    {
        Assert.Equal("from", Error(from: text).Field);
    }

    [Theory]
    [InlineData("0000-01-01", "year 0 is out of range")]
    [InlineData("10000-01-01", "year 10000 is out of range")]
    [InlineData("2021-02-29", "day is out of range for month")]
    [InlineData("2021-01-01 24:00", "hour must be in 0..23")]
    public void OutOfRangeDates_SayWhy(string text, string why)
    {
        Assert.Equal($"'from' is not a valid date ({why}), got '{text}'", Error(from: text).Message);
    }

    [Fact]
    public void HugeTexts_AreRefusedUnread()
    {
        var huge = new string('9', 10_000);
        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal("'from' is too long (10000 characters; at most 256)", Error(from: huge).Message);
        Assert.Equal("last", Error(last: huge + "s").Field);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void LongestAcceptedLast_StaysFinite()
    {
        var last = new string('9', TimeRangeResolver.MaxParameterLength - 1) + "Y";
        var range = Ok(last: last);
        Assert.True(double.IsFinite(range.Start));
        Assert.True(range.Start < -1e250);
    }

    [Fact]
    public void OffsetInText_IsHonouredAndBeatsTzname()
    {
        Assert.Equal(1609475400, Ok(from: "2021-01-01T10:00:00+05:30", tzname: "America/Los_Angeles").Start);
        Assert.Equal(1609495200, Ok(from: "2021-01-01 10:00 UTC", tzname: "Asia/Kolkata").Start);
        Assert.Equal(1609524000, Ok(from: "2021-01-01T10:00:00-0800").Start);
    }

    [Fact]
    public void ZoneNameWithSignedOffset_IsRefusedAsAmbiguous()
    {
        var error = Error(from: "2021-01-01 10:00 UTC+3");
        Assert.Contains("ambiguous", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ZoneAbbreviation_IsIgnoredAndTznameApplies()
    {
        // "EST" is not read; the wall time is taken in tzname, as the original does.
        Assert.Equal(1609459200, Ok(from: "2021-01-01 00:00 EST").Start);
        Assert.Equal(1609488000, Ok(from: "2021-01-01 00:00 EST", tzname: "America/Los_Angeles").Start);
    }

    [Fact]
    public void MissingDateParts_ComeFromTheUtcDateOfNow()
    {
        // 2023-11-14T22:13:20Z is already 2023-11-15 in Kolkata; the UTC date is used.
        Assert.Equal(1699927200, Ok(from: "2am").Start); // 2023-11-14T02:00Z
        Assert.Equal(1699907400, Ok(from: "2am", tzname: "Asia/Kolkata").Start); // 2023-11-13T20:30Z
        Assert.Equal(1672531200, Ok(from: "Jan 1").Start); // 2023-01-01
    }

    [Fact]
    public void UnicodeDigits_ReadAsPythonReadsThem()
    {
        Assert.Equal(1609459200, Ok(from: "２０２１-01-01").Start);
        Assert.Equal(42, Ok(from: "٤٢").Start);
    }

    [Fact]
    public void ToZero_MeansNoUpperBound()
    {
        var range = Ok(to: "0");
        Assert.Equal(0, range.End);
        Assert.False(range.HasEnd);
        Assert.True(range.Contains(1e12));
    }

    [Fact]
    public void FromAfterTo_IsKeptAndMatchesNothing()
    {
        var range = Ok(from: "200", to: "100");
        Assert.False(range.Contains(150));
        Assert.False(range.Contains(100));
        Assert.False(range.Contains(200));
    }

    [Fact]
    public void Bounds_AreInclusive()
    {
        var range = Ok(from: "100", to: "200");
        Assert.True(range.Contains(100));
        Assert.True(range.Contains(200));
        Assert.False(range.Contains(99.999));
        Assert.False(range.Contains(200.001));
    }

    [Fact]
    public void ErrorOrder_FollowsTheOriginal()
    {
        Assert.Equal("last", Error(last: "zzz", tzname: "Mars/Olympus").Field);
        Assert.Equal("tzname", Error(last: "5s", tzname: "Mars/Olympus").Field);
        Assert.Equal("tzname", Error(from: "garbage", tzname: "Mars/Olympus").Field);
        Assert.Equal("from", Error(from: "garbage", to: "garbage").Field);
    }

    [Fact]
    public void Clock_SuppliesNowAndToday()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2024, 2, 29, 23, 30, 0, 500, TimeSpan.Zero));
        var range = TimeRangeResolver.Resolve("10:00", null, null, null, clock).Value;
        Assert.Equal(1709249400.5, range.End); // 2024-02-29T23:30:00.5Z
        Assert.Equal(1709200800, range.Start); // 2024-02-29T10:00Z
    }

    [Fact]
    public void FailedResult_HasNoValue()
    {
        var result = TimeRangeResolver.Resolve("garbage", null, null, null, Now);
        Assert.False(result.TryGetValue(out _));
        Assert.Throws<InvalidOperationException>(() => result.Value);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(1e15)]
    public void NonsenseNow_IsAProgrammingError(double now)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TimeRangeResolver.Resolve(null, null, null, null, now));
    }

    [Fact]
    public void TimeRange_RejectsNonFiniteBounds()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeRange(double.NaN, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeRange(0, double.NegativeInfinity));
    }

    [Fact]
    public void EdgeOfCalendar_ConvertsWithoutOverflow()
    {
        // Python overflows here (server error); the instants are well defined, so we return them.
        Assert.Equal(253402326000, Ok(to: "9999-12-31 23:00", tzname: "America/Los_Angeles").End);
        Assert.Equal(-62135596800 - 21180, Ok(from: "0001-01-01", tzname: "Asia/Kolkata").Start);
    }

    [Fact]
    public void LocalMeanTime_IsRoundedToTheMinuteAsPytzDoes()
    {
        // Kolkata's local mean time is +05:53:28; pytz uses +05:53.
        Assert.Equal(-5364662400 - 21180, Ok(from: "1800-01-01", tzname: "Asia/Kolkata").Start);
        // Los Angeles: -07:52:58 becomes -07:53.
        Assert.Equal(-3944592000 + 28380, Ok(from: "1845-01-01", tzname: "America/Los_Angeles").Start);
    }
}
