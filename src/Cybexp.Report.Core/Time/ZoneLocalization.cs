using System.Globalization;
using NodaTime;

namespace Cybexp.Report.Core.Time;

/// <summary>
/// Turns wall-clock times into instants the way the original does: pytz's
/// <c>tz.localize(dt)</c> with its default <c>is_dst=False</c>, then <c>.timestamp()</c>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>An ambiguous time (clocks going back) takes the occurrence outside daylight saving time,
/// which is the later one: 01:30 on 2021-11-07 in America/Los_Angeles is 01:30 PST = 09:30Z.
/// If both or neither occurrence is daylight time, the later instant wins.</item>
/// <item>A skipped time (clocks going forward) keeps the offset in force six hours earlier, that
/// is, before the jump: 02:30 on 2021-03-14 in America/Los_Angeles is read as 02:30 PST = 10:30Z,
/// an hour after the clocks showed 03:00 PDT.</item>
/// <item>Offsets are rounded to whole minutes, as pytz rounds them (this only touches local mean
/// time before a zone adopted standard time).</item>
/// </list>
/// </remarks>
internal static class ZoneLocalization
{
    // pytz looks six hours back when a local time does not exist; a second gap that close is
    // unheard of, but the recursion is bounded anyway.
    private const int MaxGapSteps = 4;

    private const long TicksPerMicrosecond = 10;

    /// <summary>The offset pytz (<c>is_dst=False</c>) attaches to <paramref name="local"/> in <paramref name="zone"/>.</summary>
    public static Offset OffsetFor(DateTimeZone zone, LocalDateTime local) => RoundToMinute(ZoneOffsetFor(zone, local));

    // pytz rounds every offset to the nearest minute ((seconds + 30) // 60 * 60); only local mean
    // times before standard time, such as Kolkata's +05:53:28, have seconds at all.
    private static Offset RoundToMinute(Offset offset) =>
        Offset.FromSeconds((int)Math.Floor((offset.Seconds + 30) / 60.0) * 60);

    private static Offset ZoneOffsetFor(DateTimeZone zone, LocalDateTime local)
    {
        for (var step = 0; step < MaxGapSteps; step++)
        {
            var mapping = zone.MapLocal(local);
            switch (mapping.Count)
            {
                case 1:
                    return mapping.EarlyInterval.WallOffset;
                case 2:
                    var earlyStandard = mapping.EarlyInterval.Savings == Offset.Zero;
                    var lateStandard = mapping.LateInterval.Savings == Offset.Zero;
                    return earlyStandard && !lateStandard
                        ? mapping.EarlyInterval.WallOffset
                        : mapping.LateInterval.WallOffset;
                default:
                    // localize(dt - 6h) + 6h: the tzinfo found six hours earlier is kept.
                    local = local.PlusHours(-6);
                    break;
            }
        }

        return zone.MapLocal(local).LateInterval.WallOffset;
    }

    /// <summary>Epoch microseconds of <paramref name="local"/> read at <paramref name="offset"/>.</summary>
    public static long EpochMicroseconds(LocalDateTime local, Offset offset)
    {
        // Reading the wall time as UTC stays inside NodaTime's range for years 1..9999; the
        // offset is then plain arithmetic, so 9999-12-31T23:00 at -08:00 does not overflow.
        var wallTicks = local.InUtc().ToInstant().ToUnixTimeTicks();
        return (wallTicks - offset.Ticks) / TicksPerMicrosecond;
    }

    /// <summary>
    /// Epoch seconds as Python's <c>timedelta.total_seconds()</c> gives them: the exact number of
    /// microseconds divided by 10⁶, rounded once to the nearest double.
    /// </summary>
    public static double EpochSeconds(long epochMicroseconds)
    {
        var negative = epochMicroseconds < 0;
        var magnitude = (ulong)(negative ? -(epochMicroseconds + 1) : epochMicroseconds) + (negative ? 1UL : 0UL);
        var text = string.Create(
            CultureInfo.InvariantCulture,
            $"{(negative ? "-" : "")}{magnitude / 1_000_000}.{magnitude % 1_000_000:D6}");
        return double.Parse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
    }
}
