using System.Collections.Frozen;
using System.Text;
using NodaTime;

namespace Cybexp.Report.Core.Time;

/// <summary>
/// Resolves a report query's <c>from</c>, <c>to</c>, <c>last</c> and <c>tzname</c> into a
/// <see cref="TimeRange"/>, accepting what the original <c>get_dtrange</c> accepts.
/// </summary>
/// <remarks>
/// <para>Defaults: start 0 (unbounded), end <c>now</c>, zone UTC. A null or empty parameter is not
/// given. <c>last</c> may not be combined with <c>from</c> or <c>to</c>; it sets start to
/// end − count × unit (see <c>LastSpan</c>). Checks run in the original's order: the
/// combination, <c>last</c>, <c>tzname</c>, <c>from</c>, <c>to</c>.</para>
/// <para><c>tzname</c> is an IANA name from the TZDB, matched case-insensitively (like pytz).</para>
/// <para><c>from</c>/<c>to</c> are first read as Python <c>float()</c> epoch seconds
/// (<c>"1e9"</c>, <c>" 12.5 "</c>, <c>"1_000"</c>); otherwise as a date text in the manner of
/// python-dateutil (missing parts come from the UTC date of <c>now</c>, <c>01/02/2020</c> is
/// 2 January), read as wall time in <c>tzname</c> with pytz's <c>is_dst=False</c> rules for
/// clock changes and its offsets rounded to whole minutes (see <c>ZoneLocalization</c>).</para>
/// <para>Where we differ from the original, deliberately:</para>
/// <list type="bullet">
/// <item>Non-finite bounds (<c>"inf"</c>, <c>"nan"</c>, <c>"1e400"</c>) are rejected: such a range
/// selects nothing meaningful and NaN compares false with everything.</item>
/// <item>A date text with its own offset (<c>2021-01-01T10:00:00Z</c>, <c>…+05:30</c>,
/// <c>… UTC</c>) is honoured and <c>tzname</c> does not apply to it; the original failed with a
/// server error. A zone name followed by a signed offset (<c>UTC+3</c>) is rejected as
/// ambiguous, because dateutil reads it with the POSIX sign (−03:00).</item>
/// <item>Any other zone abbreviation in the text (<c>EST</c>, <c>CEST</c>) is ignored, as the
/// original ignores it: the time is read in <c>tzname</c>. Abbreviations are ambiguous
/// (<c>CST</c>, <c>IST</c>), so <c>tzname</c> is the one way to name a zone.</item>
/// <item>Unparseable or out-of-range dates are reported against the parameter instead of as a
/// server error; parameters longer than <see cref="MaxParameterLength"/> characters are refused
/// without being parsed.</item>
/// </list>
/// <para>Callers mapping JSON: pass a number's text (<c>100</c> → <c>"100"</c>); the number 0 is
/// falsy in the original and means "not given", so pass null for it.</para>
/// </remarks>
public static class TimeRangeResolver
{
    /// <summary>The longest parameter value looked at; no real date or span comes near it.</summary>
    public const int MaxParameterLength = 256;

    private const string DateExamples = "epoch seconds or a date such as 2020-05-21 14:00 or May 21 2020 2pm";

    private static readonly FrozenDictionary<string, string> ZoneIds =
        DateTimeZoneProviders.Tzdb.Ids.ToFrozenDictionary(id => id, id => id, StringComparer.OrdinalIgnoreCase);

    /// <summary>Resolves the four parameters at the current time of <paramref name="clock"/>.</summary>
    /// <param name="from">Start: epoch seconds or a date text; null or empty for none.</param>
    /// <param name="to">End: epoch seconds or a date text; null or empty for now.</param>
    /// <param name="last">A span back from now such as <c>"5 days"</c> or <c>"12h"</c>; null or empty for none.</param>
    /// <param name="tzname">IANA zone for date texts without an offset; null or empty for UTC.</param>
    /// <param name="clock">Supplies now, to the tick.</param>
    public static TimeRangeResult Resolve(string? from, string? to, string? last, string? tzname, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(clock);
        var now = (clock.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks / (double)TimeSpan.TicksPerSecond;
        return Resolve(from, to, last, tzname, now);
    }

    /// <summary>Resolves the four parameters at the instant <paramref name="nowEpochSeconds"/>.</summary>
    /// <param name="from">Start: epoch seconds or a date text; null or empty for none.</param>
    /// <param name="to">End: epoch seconds or a date text; null or empty for now.</param>
    /// <param name="last">A span back from now such as <c>"5 days"</c> or <c>"12h"</c>; null or empty for none.</param>
    /// <param name="tzname">IANA zone for date texts without an offset; null or empty for UTC.</param>
    /// <param name="nowEpochSeconds">The current time in epoch seconds (from the caller's <see cref="TimeProvider"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="nowEpochSeconds"/> is not a finite time within years 1..9999.</exception>
    public static TimeRangeResult Resolve(string? from, string? to, string? last, string? tzname, double nowEpochSeconds)
    {
        var today = UtcDateOf(nowEpochSeconds);
        var start = 0.0;
        var end = nowEpochSeconds;
        var zone = DateTimeZone.Utc;

        foreach (var (field, text) in new[] { ("from", from), ("to", to), ("last", last), ("tzname", tzname) })
        {
            if (text is { Length: > MaxParameterLength })
            {
                return Fail(field, $"'{field}' is too long ({text.Length} characters; at most {MaxParameterLength})");
            }
        }

        if (IsGiven(last) && (IsGiven(from) || IsGiven(to)))
        {
            return Fail("last", "Don't specify both 'last' and 'from/to'! Give either 'last' or 'from'/'to'");
        }

        if (IsGiven(last))
        {
            if (!LastSpan.TryParse(AsciiDigits(last), out var seconds))
            {
                return Fail(
                    "last",
                    $"'last' must be a count and a unit such as '5 days', '12h' or '3 M' (units: s, m, h, d, w, M, Y and their long names), got '{last}'");
            }

            // At most MaxParameterLength digits times a year stays below 1e264 seconds, so start
            // is finite whatever the count.
            start = end - LastSpan.ToDouble(seconds);
        }

        if (IsGiven(tzname))
        {
            var found = FindZone(tzname);
            if (found is null)
            {
                return Fail("tzname", $"'tzname' must be an IANA time zone name such as UTC or America/Los_Angeles, got '{tzname}'");
            }

            zone = found;
        }

        if (IsGiven(from))
        {
            var bound = ReadBound("from", from, zone, today);
            if (bound.Error is not null)
            {
                return TimeRangeResult.ForError(bound.Error);
            }

            start = bound.Seconds;
        }

        if (IsGiven(to))
        {
            var bound = ReadBound("to", to, zone, today);
            if (bound.Error is not null)
            {
                return TimeRangeResult.ForError(bound.Error);
            }

            end = bound.Seconds;
        }

        return TimeRangeResult.ForValue(new TimeRange(start, end));
    }

    private static bool IsGiven([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? value) => !string.IsNullOrEmpty(value);

    private static TimeRangeResult Fail(string field, string message) =>
        TimeRangeResult.ForError(new TimeRangeError(field, message));

    // pytz.timezone: "UTC" in any case, "_plus_"/"_minus_" spelled out, then a case-insensitive
    // match against the zone names.
    private static DateTimeZone? FindZone(string name)
    {
        if (name.Equals("UTC", StringComparison.OrdinalIgnoreCase))
        {
            return DateTimeZone.Utc;
        }

        var unmunged = name.Replace("_plus_", "+", StringComparison.Ordinal).Replace("_minus_", "-", StringComparison.Ordinal);
        return ZoneIds.TryGetValue(unmunged, out var id) ? DateTimeZoneProviders.Tzdb[id] : null;
    }

    private readonly record struct Bound(double Seconds, TimeRangeError? Error);

    private static Bound ReadBound(string field, string text, DateTimeZone zone, LocalDate today)
    {
        var ascii = AsciiDigits(text);
        if (PythonNumber.TryParseFloat(ascii, out var seconds))
        {
            return double.IsFinite(seconds)
                ? new Bound(seconds, null)
                : Failed($"'{field}' must be a finite number of epoch seconds or a date, got '{text}'");
        }

        if (!DateText.TryParse(ascii, today, out var date, out var problem))
        {
            return Failed(problem is null
                ? $"'{field}' must be {DateExamples}, got '{text}'"
                : $"'{field}' is not a valid date ({problem}), got '{text}'");
        }

        var offset = date.OffsetSeconds is int own ? Offset.FromSeconds(own) : ZoneLocalization.OffsetFor(zone, date.Local);
        var micros = ZoneLocalization.EpochMicroseconds(date.Local, offset);
        return new Bound(ZoneLocalization.EpochSeconds(micros), null);

        Bound Failed(string message) => new(0, new TimeRangeError(field, message));
    }

    // Python's int(), float() and dateutil read any Unicode decimal digit as its ASCII digit.
    private static string AsciiDigits(string text)
    {
        if (!text.Any(c => c > '\u007f' && char.IsDigit(c)))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(c > '\u007f' && char.IsDigit(c) ? (char)('0' + (int)char.GetNumericValue(c)) : c);
        }

        return builder.ToString();
    }

    private static LocalDate UtcDateOf(double nowEpochSeconds)
    {
        // Year 1 .. 9999 in epoch seconds.
        if (!double.IsFinite(nowEpochSeconds) || nowEpochSeconds < -62_135_596_800 || nowEpochSeconds >= 253_402_300_800)
        {
            throw new ArgumentOutOfRangeException(nameof(nowEpochSeconds), nowEpochSeconds, "'now' must be a finite time within years 1..9999.");
        }

        return Instant.FromUnixTimeSeconds((long)Math.Floor(nowEpochSeconds)).InUtc().Date;
    }
}
