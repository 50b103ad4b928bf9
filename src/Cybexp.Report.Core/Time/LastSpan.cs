using System.Globalization;
using System.Numerics;

namespace Cybexp.Report.Core.Time;

/// <summary>
/// The <c>last</c> parameter: a count and a unit (<c>"5 days"</c>, <c>"12h"</c>, <c>"3 M"</c>),
/// read exactly as the original reads it.
/// </summary>
/// <remarks>
/// With exactly two whitespace-separated tokens they are the count and the unit; otherwise the
/// last character is the unit and everything before it the count, so <c>"678sec"</c> is
/// rejected while <c>"678 sec"</c> and <c>"678s"</c> are accepted. The count follows Python
/// <c>int()</c> (sign, surrounding whitespace and digit underscores allowed). Units are
/// case-sensitive: <c>m</c> is minutes, <c>M</c> months.
/// </remarks>
internal static class LastSpan
{
    /// <summary>Seconds per unit name, exactly the original's table.</summary>
    public static readonly IReadOnlyDictionary<string, long> UnitSeconds = BuildUnits();

    /// <summary>Reads <paramref name="text"/> into a signed number of seconds (count × unit).</summary>
    public static bool TryParse(string text, out BigInteger seconds)
    {
        seconds = BigInteger.Zero;
        var tokens = SplitPythonWhitespace(text);
        string count;
        string unit;
        if (tokens.Count == 2)
        {
            count = tokens[0];
            unit = tokens[1];
        }
        else
        {
            if (text.Length == 0)
            {
                return false;
            }

            count = text[..^1];
            unit = text[^1..];
        }

        if (!PythonNumber.TryParseInt(count, out var n) || !UnitSeconds.TryGetValue(unit, out var perUnit))
        {
            return false;
        }

        seconds = n * perUnit;
        return true;
    }

    /// <summary>
    /// <paramref name="seconds"/> as the nearest double, as Python's <c>float(int)</c> does;
    /// infinity when it is beyond the double range.
    /// </summary>
    public static double ToDouble(BigInteger seconds) =>
        // Decimal text → double is correctly rounded in .NET, unlike some BigInteger casts.
        double.Parse(seconds.ToString(CultureInfo.InvariantCulture), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    private static List<string> SplitPythonWhitespace(string text)
    {
        var tokens = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && PythonNumber.IsPythonSpace(text[i]))
            {
                i++;
            }

            var start = i;
            while (i < text.Length && !PythonNumber.IsPythonSpace(text[i]))
            {
                i++;
            }

            if (i > start)
            {
                tokens.Add(text[start..i]);
            }
        }

        return tokens;
    }

    private static Dictionary<string, long> BuildUnits()
    {
        var units = new Dictionary<string, long>(StringComparer.Ordinal);
        void Add(long seconds, params string[] names)
        {
            foreach (var name in names)
            {
                units.Add(name, seconds);
            }
        }

        Add(1, "s", "sec", "second", "seconds");
        Add(60, "m", "min", "mins", "minute", "minutes");
        Add(3600, "h", "hr", "hrs", "hour", "hours");
        Add(86400, "d", "day", "days");
        Add(604800, "w", "week", "weeks");
        Add(2629800, "M", "month", "months");
        Add(31557600, "Y", "year", "years");
        return units;
    }
}
