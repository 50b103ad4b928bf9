using NodaTime;

namespace Cybexp.Report.Core.Time;

/// <summary>
/// A date text read the way python-dateutil's <c>parser.parse</c> reads it (default
/// <c>parserinfo</c>: month before day, no fuzzy matching), with its own UTC offset if it carries one.
/// </summary>
/// <param name="Local">The wall-clock date and time, to microsecond precision.</param>
/// <param name="OffsetSeconds">The offset written in the text (<c>Z</c>, <c>UTC</c>, <c>+05:30</c>), or null.</param>
internal readonly record struct DateText(LocalDateTime Local, int? OffsetSeconds)
{
    /// <summary>
    /// Parses <paramref name="text"/>; parts it leaves out come from <paramref name="today"/>
    /// (midnight of that day), two-digit years are placed within 50 years of it.
    /// </summary>
    /// <param name="text">The text as the user gave it.</param>
    /// <param name="today">The date supplying missing parts.</param>
    /// <param name="value">The parsed text on success.</param>
    /// <param name="problem">On failure: null when the text is not a date at all, else what is wrong with it.</param>
    public static bool TryParse(string text, LocalDate today, out DateText value, out string? problem) =>
        DateTextParser.TryParse(text, today, out value, out problem);
}
