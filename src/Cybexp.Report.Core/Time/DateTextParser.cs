using System.Globalization;
using NodaTime;

namespace Cybexp.Report.Core.Time;

/// <summary>
/// A port of python-dateutil 2.8's <c>parser.parse(text)</c> with the default <c>parserinfo</c>
/// (<c>dayfirst=False</c>, <c>yearfirst=False</c>, <c>fuzzy=False</c>, no <c>tzinfos</c>), as the
/// original calls it. Branch order and index arithmetic follow dateutil's <c>_timelex</c>,
/// <c>_parse</c>, <c>_parse_numeric_token</c>, <c>_ymd</c> and <c>_build_naive</c> one to one,
/// so that texts dateutil accepts read the same here and texts it rejects are rejected.
/// </summary>
/// <remarks>
/// Deviations, all in zone handling: an offset in the text is returned rather than making the
/// value unusable; <c>UTC</c>, <c>GMT</c> and <c>Z</c> mean offset zero whatever the machine's
/// zone is; a zone name followed directly by a signed offset (<c>UTC+3</c>, which dateutil reads
/// with the POSIX sign, i.e. as −03:00) is rejected as ambiguous. Other zone abbreviations
/// (<c>EST</c>, <c>CET</c>) are ignored as dateutil ignores them.
/// </remarks>
internal static class DateTextParser
{
    private static readonly HashSet<string> Jump = new(StringComparer.Ordinal)
    {
        " ", ".", ",", ";", "-", "/", "'", "at", "on", "and", "ad", "m", "t", "of", "st", "nd", "rd", "th",
    };

    private static readonly Dictionary<string, int> Weekdays = Table(
        ["mon", "monday"], ["tue", "tuesday"], ["wed", "wednesday"], ["thu", "thursday"],
        ["fri", "friday"], ["sat", "saturday"], ["sun", "sunday"]);

    private static readonly Dictionary<string, int> Months = Table(
        ["jan", "january"], ["feb", "february"], ["mar", "march"], ["apr", "april"], ["may"],
        ["jun", "june"], ["jul", "july"], ["aug", "august"], ["sep", "sept", "september"],
        ["oct", "october"], ["nov", "november"], ["dec", "december"]);

    private static readonly Dictionary<string, int> HmsNames = Table(
        ["h", "hour", "hours"], ["m", "minute", "minutes"], ["s", "second", "seconds"]);

    private static readonly Dictionary<string, int> AmPm = Table(["am", "a"], ["pm", "p"]);

    private static readonly HashSet<string> UtcZoneLower = new(StringComparer.Ordinal) { "utc", "gmt", "z" };

    private static readonly string[] UtcZoneExact = ["UTC", "GMT", "Z", "z"];

    // NodaTime's Offset range; real offsets stay within ±14 hours.
    private const long MaxOffsetSeconds = 18 * 3600;

    /// <inheritdoc cref="DateText.TryParse"/>
    public static bool TryParse(string text, LocalDate today, out DateText value, out string? problem)
    {
        value = default;
        problem = null;
        Fields fields;
        try
        {
            fields = Parse(text, today.Year);
        }
        catch (NotADateException)
        {
            return false;
        }

        if (fields.Count == 0)
        {
            return false;
        }

        if (fields.SignedZoneName)
        {
            problem = "a zone name followed by a signed offset (such as UTC+3) is ambiguous; write the offset alone, such as +03:00";
            return false;
        }

        if (!TryBuildLocal(fields, today, out var local, out problem))
        {
            return false;
        }

        if (!TryOffset(fields, out var offset, out problem))
        {
            return false;
        }

        value = new DateText(local, offset);
        return true;
    }

    // dateutil's `_result`, plus SignedZoneName which records the ambiguous `NAME±hh` form.
    private sealed class Fields
    {
        public long? Year;
        public long? Month;
        public long? Day;
        public int? Weekday;
        public long? Hour;
        public long? Minute;
        public long? Second;
        public long? Microsecond;
        public string? TzName;
        public long? TzOffset;
        public int? Ampm;
        public bool CenturySpecified;
        public bool SignedZoneName;

        // len(res): the number of fields that were set.
        public int Count =>
            (Year is null ? 0 : 1) + (Month is null ? 0 : 1) + (Day is null ? 0 : 1) + (Weekday is null ? 0 : 1)
            + (Hour is null ? 0 : 1) + (Minute is null ? 0 : 1) + (Second is null ? 0 : 1)
            + (Microsecond is null ? 0 : 1) + (TzName is null ? 0 : 1) + (TzOffset is null ? 0 : 1)
            + (Ampm is null ? 0 : 1);
    }

    // Stands for the IndexError/ValueError that dateutil's `_parse` turns into "Unknown string
    // format"; it never leaves this class.
    private sealed class NotADateException : Exception
    {
    }

    private static NotADateException NotADate() => new();

    private static Fields Parse(string timestr, int currentYear)
    {
        var res = new Fields();
        var l = Lexer.Split(timestr);
        var ymd = new Ymd();
        var lenL = l.Count;
        var i = 0;
        while (i < lenL)
        {
            if (PythonNumber.TryParseFloat(l[i], out _))
            {
                i = ParseNumericToken(l, i, ymd, res);
            }
            else if (Lookup(Weekdays, l[i]) is int weekday)
            {
                res.Weekday = weekday;
            }
            else if (Lookup(Months, l[i]) is int monthIndex)
            {
                ymd.Append(monthIndex + 1, 'M');
                if (i + 1 < lenL)
                {
                    if (l[i + 1] is "-" or "/")
                    {
                        // Jan-01[-99]
                        var sep = l[i + 1];
                        ymd.Append(At(l, i + 2));
                        if (i + 3 < lenL && l[i + 3] == sep)
                        {
                            ymd.Append(At(l, i + 4));
                            i += 2;
                        }

                        i += 2;
                    }
                    else if (i + 4 < lenL && l[i + 1] == " " && l[i + 3] == " " && IsPertain(l[i + 2]))
                    {
                        // Jan of 01
                        if (IsAsciiDigits(l[i + 4]))
                        {
                            var year = ConvertYear(Int(l[i + 4]), false, currentYear);
                            ymd.Append(year.ToString(CultureInfo.InvariantCulture), 'Y');
                        }

                        i += 4;
                    }
                }
            }
            else if (Lookup(AmPm, l[i]) is int ampm)
            {
                // _ampm_valid without fuzzy: an am/pm needs an hour of a 12-hour clock before it.
                if (res.Hour is not (>= 0 and <= 12))
                {
                    throw NotADate();
                }

                res.Hour = AdjustAmpm(res.Hour.Value, ampm);
                res.Ampm = ampm;
            }
            else if (CouldBeTzName(res.Hour, res.TzName, res.TzOffset, l[i]))
            {
                res.TzName = l[i];
                res.TzOffset = TzOffsetOfName(l[i]);
                if (i + 1 < lenL && l[i + 1] is "+" or "-")
                {
                    // dateutil reads "UTC+3" as -03:00 (POSIX sign); we refuse that form later.
                    l[i + 1] = l[i + 1] == "+" ? "-" : "+";
                    res.TzOffset = null;
                    res.SignedZoneName = true;
                    if (IsUtcZone(res.TzName))
                    {
                        res.TzName = null;
                    }
                }
            }
            else if (res.Hour is not null && l[i] is "+" or "-")
            {
                var signal = l[i] == "+" ? 1 : -1;
                var next = At(l, i + 1);
                long hourOffset;
                long minOffset;
                if (next.Length == 4)
                {
                    hourOffset = Int(next[..2]);
                    minOffset = Int(next[2..]);
                }
                else if (i + 2 < lenL && l[i + 2] == ":")
                {
                    hourOffset = Int(l[i + 1]);
                    minOffset = Int(At(l, i + 3));
                    i += 2;
                }
                else if (next.Length <= 2)
                {
                    hourOffset = Int(next);
                    minOffset = 0;
                }
                else
                {
                    throw NotADate();
                }

                if (minOffset > 59)
                {
                    // dateutil would count "+05:99" as 6:39; no real text looks like this.
                    throw NotADate();
                }

                res.TzOffset = signal * ((hourOffset * 3600) + (minOffset * 60));

                // -0300 (BRST)
                if (i + 5 < lenL && Jump.Contains(l[i + 2].ToLowerInvariant()) && l[i + 3] == "(" && l[i + 5] == ")"
                    && l[i + 4].Length >= 3 && CouldBeTzName(res.Hour, res.TzName, null, l[i + 4]))
                {
                    res.TzName = l[i + 4];
                    i += 4;
                }

                i += 1;
            }
            else if (!Jump.Contains(l[i].ToLowerInvariant()))
            {
                throw NotADate();
            }

            i += 1;
        }

        var (y, m, d) = ymd.Resolve();
        res.CenturySpecified = ymd.CenturySpecified;
        res.Year = y;
        res.Month = m;
        res.Day = d;
        Validate(res, currentYear);
        return res;
    }

    private static int ParseNumericToken(List<string> tokens, int idx, Ymd ymd, Fields res)
    {
        var s = tokens[idx];
        var value = ToDecimal(s);
        var lenLi = s.Length;
        var lenL = tokens.Count;

        if (ymd.Count == 3 && lenLi is 2 or 4 && res.Hour is null
            && (idx + 1 >= lenL || (tokens[idx + 1] != ":" && Lookup(HmsNames, tokens[idx + 1]) is null)))
        {
            // 19990101T23[59]
            res.Hour = Int(s[..2]);
            if (lenLi == 4)
            {
                res.Minute = Int(s[2..]);
            }
        }
        else if (lenLi == 6 || (lenLi > 6 && s.IndexOf('.', StringComparison.Ordinal) == 6))
        {
            // YYMMDD or HHMMSS[.ss]
            if (ymd.Count == 0 && !s.Contains('.', StringComparison.Ordinal))
            {
                ymd.Append(s[..2]);
                ymd.Append(s[2..4]);
                ymd.Append(s[4..]);
            }
            else
            {
                res.Hour = Int(s[..2]);
                res.Minute = Int(s[2..4]);
                (res.Second, res.Microsecond) = ParseSecondsAndMicroseconds(s[4..]);
            }
        }
        else if (lenLi is 8 or 12 or 14)
        {
            // YYYYMMDD[hhmm[ss]]
            ymd.Append(s[..4], 'Y');
            ymd.Append(s[4..6]);
            ymd.Append(s[6..8]);
            if (lenLi > 8)
            {
                res.Hour = Int(s[8..10]);
                res.Minute = Int(s[10..12]);
                if (lenLi > 12)
                {
                    res.Second = Int(s[12..]);
                }
            }
        }
        else if (FindHmsIndex(idx, tokens) is int hmsIdx)
        {
            // HH[ ]h or MM[ ]m or SS[.ss][ ]s
            int hms;
            if (hmsIdx > idx)
            {
                hms = HmsNames[tokens[hmsIdx].ToLowerInvariant()];
                idx = hmsIdx;
            }
            else
            {
                hms = HmsNames[tokens[hmsIdx].ToLowerInvariant()] + 1;
            }

            AssignHms(res, s, hms);
        }
        else if (idx + 2 < lenL && tokens[idx + 1] == ":")
        {
            // HH:MM[:SS[.ss]]
            res.Hour = Int(value);
            (res.Minute, res.Second) = ParseMinutesAndSeconds(ToDecimal(tokens[idx + 2]));
            if (idx + 4 < lenL && tokens[idx + 3] == ":")
            {
                (res.Second, res.Microsecond) = ParseSecondsAndMicroseconds(tokens[idx + 4]);
                idx += 2;
            }

            idx += 2;
        }
        else if (idx + 1 < lenL && tokens[idx + 1] is "-" or "/" or ".")
        {
            var sep = tokens[idx + 1];
            ymd.Append(s);
            if (idx + 2 < lenL && !Jump.Contains(tokens[idx + 2].ToLowerInvariant()))
            {
                if (IsAsciiDigits(tokens[idx + 2]))
                {
                    // 01-01[-01]
                    ymd.Append(tokens[idx + 2]);
                }
                else
                {
                    // 01-Jan[-01]
                    var month = Lookup(Months, tokens[idx + 2]) ?? throw NotADate();
                    ymd.Append(month + 1, 'M');
                }

                if (idx + 3 < lenL && tokens[idx + 3] == sep)
                {
                    // We have three members
                    var fourth = At(tokens, idx + 4);
                    if (Lookup(Months, fourth) is int month)
                    {
                        ymd.Append(month + 1, 'M');
                    }
                    else
                    {
                        ymd.Append(fourth);
                    }

                    idx += 2;
                }

                idx += 1;
            }

            idx += 1;
        }
        else if (idx + 1 >= lenL || Jump.Contains(tokens[idx + 1].ToLowerInvariant()))
        {
            if (idx + 2 < lenL && Lookup(AmPm, tokens[idx + 2]) is int ampm)
            {
                // 12 am
                res.Hour = AdjustAmpm(Int(value), ampm);
                idx += 1;
            }
            else
            {
                // Year, month or day
                ymd.Append(value);
            }

            idx += 1;
        }
        else if (Lookup(AmPm, tokens[idx + 1]) is int ampm && value >= 0 && value < 24)
        {
            // 12am
            res.Hour = AdjustAmpm(Int(value), ampm);
            idx += 1;
        }
        else if (ymd.CouldBeDay(value))
        {
            ymd.Append(value);
        }
        else
        {
            throw NotADate();
        }

        return idx;
    }

    private static int? FindHmsIndex(int idx, List<string> tokens)
    {
        var lenL = tokens.Count;
        if (idx + 1 < lenL && Lookup(HmsNames, tokens[idx + 1]) is not null)
        {
            return idx + 1;
        }

        if (idx + 2 < lenL && tokens[idx + 1] == " " && Lookup(HmsNames, tokens[idx + 2]) is not null)
        {
            return idx + 2;
        }

        if (idx > 0 && Lookup(HmsNames, tokens[idx - 1]) is not null)
        {
            return idx - 1;
        }

        if (idx > 1 && idx == lenL - 1 && tokens[idx - 1] == " " && Lookup(HmsNames, tokens[idx - 2]) is not null)
        {
            return idx - 2;
        }

        return null;
    }

    private static void AssignHms(Fields res, string valueRepr, int hms)
    {
        var value = ToDecimal(valueRepr);
        switch (hms)
        {
            case 0:
                res.Hour = Int(value);
                if (value % 1 != 0)
                {
                    res.Minute = Int(60 * (value % 1));
                }

                break;
            case 1:
                (res.Minute, res.Second) = ParseMinutesAndSeconds(value);
                break;
            case 2:
                (res.Second, res.Microsecond) = ParseSecondsAndMicroseconds(valueRepr);
                break;
            default:
                // dateutil's "hms + 1" for a seconds name before the number sets nothing.
                break;
        }
    }

    private static (long Minute, long? Second) ParseMinutesAndSeconds(decimal value)
    {
        var minute = Int(value);
        var remainder = value % 1;
        return (minute, remainder != 0 ? Int(60 * remainder) : null);
    }

    // dateutil `_parsems`: "S[.F]" with F cut or padded to six digits.
    private static (long Second, long Microsecond) ParseSecondsAndMicroseconds(string value)
    {
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
        {
            return (Int(value), 0);
        }

        var whole = value[..dot];
        var fraction = value[(dot + 1)..];
        if (fraction.Contains('.', StringComparison.Ordinal))
        {
            throw NotADate();
        }

        var micro = fraction.PadRight(6, '0')[..6];
        return (Int(whole), Int(micro));
    }

    private static long AdjustAmpm(long hour, int ampm)
    {
        if (hour < 12 && ampm == 1)
        {
            return hour + 12;
        }

        return hour == 12 && ampm == 0 ? 0 : hour;
    }

    private static bool CouldBeTzName(long? hour, string? tzname, long? tzoffset, string token) =>
        hour is not null && tzname is null && tzoffset is null && token.Length <= 5
        && (token.All(char.IsAsciiLetterUpper) || UtcZoneExact.Contains(token, StringComparer.Ordinal));

    // parserinfo.tzoffset: compares the name as written against lower-case keys, so only "z" hits.
    private static long? TzOffsetOfName(string name) => UtcZoneLower.Contains(name) ? 0 : null;

    private static bool IsUtcZone(string name) => UtcZoneLower.Contains(name.ToLowerInvariant());

    private static bool IsPertain(string name) => name.Equals("of", StringComparison.OrdinalIgnoreCase);

    // parserinfo.validate
    private static void Validate(Fields res, int currentYear)
    {
        if (res.Year is long year)
        {
            res.Year = ConvertYear(year, res.CenturySpecified, currentYear);
        }

        if ((res.TzOffset == 0 && string.IsNullOrEmpty(res.TzName)) || res.TzName is "Z" or "z")
        {
            res.TzName = "UTC";
            res.TzOffset = 0;
        }
        else if (res.TzOffset != 0 && !string.IsNullOrEmpty(res.TzName) && IsUtcZone(res.TzName))
        {
            res.TzOffset = 0;
        }
    }

    // Two-digit years land within 50 years of the current year.
    private static long ConvertYear(long year, bool centurySpecified, int currentYear)
    {
        if (year < 100 && !centurySpecified)
        {
            year += currentYear / 100 * 100;
            if (year >= currentYear + 50)
            {
                year -= 100;
            }
            else if (year < currentYear - 50)
            {
                year += 100;
            }
        }

        return year;
    }

    // _build_naive, with datetime.replace's range checks as readable problems.
    private static bool TryBuildLocal(Fields res, LocalDate today, out LocalDateTime local, out string? problem)
    {
        local = default;
        problem = null;
        long year = res.Year ?? today.Year;
        long month = res.Month ?? today.Month;
        long day = res.Day ?? today.Day;
        if (res.Day is null)
        {
            if (month is < 1 or > 12)
            {
                problem = $"bad month number {month}; must be 1-12";
                return false;
            }

            day = Math.Min(day, DaysInMonth(year, (int)month));
        }

        long hour = res.Hour ?? 0;
        long minute = res.Minute ?? 0;
        long second = res.Second ?? 0;
        long microsecond = res.Microsecond ?? 0;
        problem = year is < 1 or > 9999 ? $"year {year} is out of range"
            : month is < 1 or > 12 ? "month must be in 1..12"
            : day < 1 || day > DaysInMonth(year, (int)month) ? "day is out of range for month"
            : hour is < 0 or > 23 ? "hour must be in 0..23"
            : minute is < 0 or > 59 ? "minute must be in 0..59"
            : second is < 0 or > 59 ? "second must be in 0..59"
            : microsecond is < 0 or > 999_999 ? "microsecond must be in 0..999999"
            : null;
        if (problem is not null)
        {
            return false;
        }

        var date = new LocalDate((int)year, (int)month, (int)day);
        if (res.Weekday is int weekday && res.Day is null)
        {
            // relativedelta(weekday=...): the next such weekday, today included. Python counts Monday as 0.
            var ahead = (weekday - ((int)date.DayOfWeek - 1) + 7) % 7;
            if (date.Year == 9999 && date.DayOfYear + ahead > 365)
            {
                problem = "date value out of range";
                return false;
            }

            date = date.PlusDays(ahead);
        }

        var time = new LocalTime((int)hour, (int)minute, (int)second).PlusTicks(microsecond * 10);
        local = date + time;
        return true;
    }

    // _build_tzaware on a machine whose own zone is UTC, as where the original ran: UTC/GMT/Z give
    // offset zero, a numeric offset is kept, a bare abbreviation is ignored.
    private static bool TryOffset(Fields res, out int? offsetSeconds, out string? problem)
    {
        offsetSeconds = null;
        problem = null;
        if (res.TzName is not null && IsUtcZone(res.TzName))
        {
            offsetSeconds = 0;
        }
        else if (res.TzOffset is long offset)
        {
            if (Math.Abs(offset) > MaxOffsetSeconds)
            {
                problem = $"the UTC offset of {offset / 3600} hours is out of range, at most 18";
                return false;
            }

            offsetSeconds = (int)offset;
        }

        return true;
    }

    private static int DaysInMonth(long year, int month)
    {
        // Proleptic Gregorian, valid for any year (Python's calendar does the same).
        int[] days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        var leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        return month == 2 && leap ? 29 : days[month - 1];
    }

    private static string At(List<string> tokens, int index) =>
        index < tokens.Count ? tokens[index] : throw NotADate();

    private static int? Lookup(Dictionary<string, int> table, string name) =>
        table.TryGetValue(name.ToLowerInvariant(), out var index) ? index : null;

    private static bool IsAsciiDigits(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);

    // Python int(str) into a long; anything else is "not a date".
    private static long Int(string s) =>
        PythonNumber.TryParseInt(s, out var value) && value >= long.MinValue && value <= long.MaxValue
            ? (long)value
            : throw NotADate();

    // Python int(Decimal): truncation toward zero.
    private static long Int(decimal value)
    {
        var truncated = decimal.Truncate(value);
        return truncated is >= long.MinValue and <= long.MaxValue ? (long)truncated : throw NotADate();
    }

    // dateutil `_to_decimal`: Decimal(token), finite only.
    private static decimal ToDecimal(string s) =>
        decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw NotADate();

    private static Dictionary<string, int> Table(params string[][] groups)
    {
        var table = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var index = 0; index < groups.Length; index++)
        {
            foreach (var name in groups[index])
            {
                table[name] = index;
            }
        }

        return table;
    }

    // dateutil `_ymd`: up to three date numbers and which of them are known to be year, month or day.
    private sealed class Ymd
    {
        private readonly List<long> values = [];
        private int? yearIndex;
        private int? monthIndex;
        private int? dayIndex;

        public int Count => values.Count;

        public bool CenturySpecified { get; private set; }

        public void Append(string value, char? label = null)
        {
            if (IsAsciiDigits(value) && value.Length > 2)
            {
                CenturySpecified = true;
                label = label is null or 'Y' ? 'Y' : throw NotADate();
            }

            Add(Int(value), label);
        }

        public void Append(decimal value, char? label = null)
        {
            if (value > 100)
            {
                CenturySpecified = true;
                label = label is null or 'Y' ? 'Y' : throw NotADate();
            }

            Add(Int(value), label);
        }

        public bool CouldBeDay(decimal value)
        {
            if (dayIndex is not null)
            {
                return false;
            }

            if (monthIndex is not int m)
            {
                return value >= 1 && value <= 31;
            }

            var month = values[m];
            if (month is < 1 or > 12)
            {
                throw NotADate();
            }

            var year = yearIndex is int y ? values[y] : 2000;
            return value >= 1 && value <= DaysInMonth(year, (int)month);
        }

        public (long? Year, long? Month, long? Day) Resolve()
        {
            var known = new Dictionary<char, int>();
            if (yearIndex is int yi)
            {
                known['y'] = yi;
            }

            if (monthIndex is int mi)
            {
                known['m'] = mi;
            }

            if (dayIndex is int di)
            {
                known['d'] = di;
            }

            var n = values.Count;
            if ((n == known.Count && n > 0) || (n == 3 && known.Count == 2))
            {
                if (n == 3 && known.Count == 2)
                {
                    var missingIndex = Enumerable.Range(0, 3).Single(x => !known.ContainsValue(x));
                    var missingKey = "ymd".Single(k => !known.ContainsKey(k));
                    known[missingKey] = missingIndex;
                }

                return (Get('y'), Get('m'), Get('d'));

                long? Get(char key) => known.TryGetValue(key, out var index) ? values[index] : null;
            }

            long? year = null;
            long? month = null;
            long? day = null;
            if (n > 3)
            {
                throw NotADate();
            }

            if (n == 1 || (monthIndex is not null && n == 2))
            {
                long other;
                if (monthIndex is int mIdx)
                {
                    month = values[mIdx];
                    other = values[(mIdx - 1 + n) % n]; // Python's self[mstridx - 1]
                }
                else
                {
                    other = values[0];
                }

                if (n > 1 || monthIndex is null)
                {
                    if (other > 31)
                    {
                        year = other;
                    }
                    else
                    {
                        day = other;
                    }
                }
            }
            else if (n == 2)
            {
                if (values[0] > 31)
                {
                    (year, month) = (values[0], values[1]);
                }
                else if (values[1] > 31)
                {
                    (month, year) = (values[0], values[1]);
                }
                else
                {
                    // dayfirst is False: 01-13
                    (month, day) = (values[0], values[1]);
                }
            }
            else if (n == 3)
            {
                if (monthIndex == 0)
                {
                    if (values[1] > 31)
                    {
                        (month, year, day) = (values[0], values[1], values[2]);
                    }
                    else
                    {
                        (month, day, year) = (values[0], values[1], values[2]);
                    }
                }
                else if (monthIndex == 1)
                {
                    if (values[0] > 31)
                    {
                        (year, month, day) = (values[0], values[1], values[2]);
                    }
                    else
                    {
                        (day, month, year) = (values[0], values[1], values[2]);
                    }
                }
                else if (monthIndex == 2)
                {
                    if (values[1] > 31)
                    {
                        (day, year, month) = (values[0], values[1], values[2]);
                    }
                    else
                    {
                        (year, day, month) = (values[0], values[1], values[2]);
                    }
                }
                else if (values[0] > 31 || yearIndex == 0)
                {
                    (year, month, day) = (values[0], values[1], values[2]);
                }
                else if (values[0] > 12)
                {
                    (day, month, year) = (values[0], values[1], values[2]);
                }
                else
                {
                    (month, day, year) = (values[0], values[1], values[2]);
                }
            }

            return (year, month, day);
        }

        private void Add(long value, char? label)
        {
            values.Add(value);
            var index = values.Count - 1;
            switch (label)
            {
                case 'M':
                    monthIndex = monthIndex is null ? index : throw NotADate();
                    break;
                case 'D':
                    dayIndex = dayIndex is null ? index : throw NotADate();
                    break;
                case 'Y':
                    yearIndex = yearIndex is null ? index : throw NotADate();
                    break;
                default:
                    break;
            }
        }
    }

    // dateutil `_timelex`: splits on changes between letters, digits, spaces and other characters,
    // keeping dotted runs ("Sep.20.2009", "4:30:21.447") together until their meaning is clear.
    private static class Lexer
    {
        public static List<string> Split(string text)
        {
            var tokens = new List<string>();
            var pending = new Queue<string>();
            var pos = 0;
            int? pushedBack = null;
            while (true)
            {
                if (pending.Count > 0)
                {
                    tokens.Add(pending.Dequeue());
                    continue;
                }

                var token = NextToken(text, ref pos, ref pushedBack, pending);
                if (token is null)
                {
                    return tokens;
                }

                tokens.Add(token);
            }
        }

        private static string? NextToken(string text, ref int pos, ref int? pushedBack, Queue<string> pending)
        {
            var seenLetters = false;
            System.Text.StringBuilder? token = null;
            var state = ' '; // ' ' none, 'a' word, '0' number, 'A' word with dots, 'N' number with dots
            while (true)
            {
                char c;
                if (pushedBack is int back)
                {
                    c = (char)back;
                    pushedBack = null;
                }
                else
                {
                    while (pos < text.Length && text[pos] == '\0')
                    {
                        pos++;
                    }

                    if (pos >= text.Length)
                    {
                        break;
                    }

                    c = text[pos++];
                }

                if (state == ' ')
                {
                    token = new System.Text.StringBuilder().Append(c);
                    if (char.IsLetter(c))
                    {
                        state = 'a';
                    }
                    else if (char.IsAsciiDigit(c))
                    {
                        state = '0';
                    }
                    else if (PythonNumber.IsPythonSpace(c))
                    {
                        token.Clear().Append(' ');
                        break;
                    }
                    else
                    {
                        break;
                    }
                }
                else if (state == 'a')
                {
                    seenLetters = true;
                    if (char.IsLetter(c))
                    {
                        token!.Append(c);
                    }
                    else if (c == '.')
                    {
                        token!.Append(c);
                        state = 'A';
                    }
                    else
                    {
                        pushedBack = c;
                        break;
                    }
                }
                else if (state == '0')
                {
                    if (char.IsAsciiDigit(c))
                    {
                        token!.Append(c);
                    }
                    else if (c == '.' || (c == ',' && token!.Length >= 2))
                    {
                        token!.Append(c);
                        state = 'N';
                    }
                    else
                    {
                        pushedBack = c;
                        break;
                    }
                }
                else if (state == 'A')
                {
                    seenLetters = true;
                    if (c == '.' || char.IsLetter(c))
                    {
                        token!.Append(c);
                    }
                    else if (char.IsAsciiDigit(c) && token![^1] == '.')
                    {
                        token.Append(c);
                        state = 'N';
                    }
                    else
                    {
                        pushedBack = c;
                        break;
                    }
                }
                else
                {
                    if (c == '.' || char.IsAsciiDigit(c))
                    {
                        token!.Append(c);
                    }
                    else if (char.IsLetter(c) && token![^1] == '.')
                    {
                        token.Append(c);
                        state = 'A';
                    }
                    else
                    {
                        pushedBack = c;
                        break;
                    }
                }
            }

            if (token is null)
            {
                return null;
            }

            var result = token.ToString();
            if (state is 'A' or 'N'
                && (seenLetters || result.Count(ch => ch == '.') > 1 || result[^1] is '.' or ','))
            {
                // re.split("([.,])", token): the first piece is the token, the rest (separators
                // included, empty pieces dropped) come next.
                var pieces = SplitKeepingSeparators(result);
                result = pieces[0];
                foreach (var piece in pieces.Skip(1).Where(p => p.Length > 0))
                {
                    pending.Enqueue(piece);
                }
            }

            if (state == 'N' && !result.Contains('.', StringComparison.Ordinal))
            {
                result = result.Replace(',', '.');
            }

            return result;
        }

        private static List<string> SplitKeepingSeparators(string s)
        {
            var pieces = new List<string>();
            var start = 0;
            for (var i = 0; i < s.Length; i++)
            {
                if (s[i] is '.' or ',')
                {
                    pieces.Add(s[start..i]);
                    pieces.Add(s[i].ToString());
                    start = i + 1;
                }
            }

            pieces.Add(s[start..]);
            return pieces;
        }
    }
}
