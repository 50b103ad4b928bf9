using System.Globalization;
using Cybexp.Report.Core.Time;
using CsCheck;
using NodaTime;

namespace Cybexp.Report.Core.Tests.Time;

public sealed class TimeRangePropertyTests
{
    private static readonly (string Name, long Seconds)[] Units =
    [
        ("s", 1), ("sec", 1), ("seconds", 1), ("m", 60), ("mins", 60), ("minute", 60), ("h", 3600), ("hrs", 3600),
        ("d", 86_400), ("days", 86_400), ("w", 604_800), ("week", 604_800), ("M", 2_629_800), ("months", 2_629_800),
        ("Y", 31_557_600), ("year", 31_557_600),
    ];

    private static readonly string[] Zones =
    [
        "America/Los_Angeles", "America/New_York", "America/Sao_Paulo", "Europe/Berlin", "Europe/London",
        "Asia/Kolkata", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Chatham", "UTC",
    ];

    // Quarter seconds up to 2^36 s (year 4147) and spans below 2^45 s: every value and difference is an exact double.
    private static readonly Gen<double> GenNow = Gen.Long[0, 1L << 38].Select(q => q / 4.0);

    private static readonly Gen<long> GenInstantMicros =
        // 1700-01-01 .. 2250-01-01: below 2^53 microseconds, so micros / 1e6 is one rounding.
        Gen.Long[-8_520_336_000_000_000, 8_835_984_000_000_000];

    [Fact]
    public void Last_SubtractsExactlyCountTimesUnit()
    {
        Gen.Select(Gen.Long[-1_000_000, 1_000_000], Gen.Int[0, Units.Length - 1], Gen.Bool, GenNow, (n, u, spaced, now) => (n, u, spaced, now))
            .Sample(t =>
            {
                var (name, perUnit) = Units[t.u];
                var joined = t.spaced || name.Length > 1;
                var text = joined ? $"{t.n.ToString(CultureInfo.InvariantCulture)} {name}" : t.n.ToString(CultureInfo.InvariantCulture) + name;
                var range = TimeRangeResolver.Resolve(null, null, text, null, t.now).Value;
                Assert.Equal(t.now, range.End);
                Assert.Equal((double)(t.n * perUnit), range.End - range.Start);
            });
    }

    [Fact]
    public void IsoTextWithOffset_ReadsBackTheSameInstant()
    {
        var offsets = Gen.Int[-14 * 4, 14 * 4].Select(q => q * 15 * 60);
        Gen.Select(GenInstantMicros, offsets, Gen.Bool, Gen.Int[0, Zones.Length - 1], (us, off, t, z) => (us, off, t, z))
            .Sample(x =>
            {
                var instant = Instant.FromUnixTimeTicks(x.us * 10);
                var local = instant.WithOffset(Offset.FromSeconds(x.off)).LocalDateTime;
                var separator = x.t ? "T" : " ";
                var suffix = x.off == 0 && x.t ? "Z" : Offset.FromSeconds(x.off).ToString("+HH:mm", CultureInfo.InvariantCulture);
                var text = local.ToString($"uuuu-MM-dd'{separator}'HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + suffix;

                // tzname must not matter when the text has its own offset.
                var range = TimeRangeResolver.Resolve(text, null, null, Zones[x.z], 1_700_000_000).Value;

                Assert.Equal(x.us / 1e6, range.Start);
            });
    }

    [Fact]
    public void UtcTextWithoutFraction_ReadsBackWholeSeconds()
    {
        Gen.Long[-8_520_336_000, 8_835_984_000].Sample(seconds =>
        {
            var text = Instant.FromUnixTimeSeconds(seconds).InUtc().LocalDateTime
                .ToString("uuuu'-'MM'-'dd HH':'mm':'ss", CultureInfo.InvariantCulture);
            Assert.Equal(seconds, TimeRangeResolver.Resolve(text, null, null, null, 1_700_000_000).Value.Start);
        });
    }

    [Fact]
    public void ZoneWallTime_MatchesNodaTimeAwayFromTransitions()
    {
        // Local times from 1970 to 2100 at whole seconds; skipped and doubled times are left to
        // DaylightSavingTests.
        Gen.Select(Gen.Long[0, 4_102_444_800], Gen.Int[0, Zones.Length - 1], (s, z) => (s, z))
            .Sample(x =>
            {
                var zone = DateTimeZoneProviders.Tzdb[Zones[x.z]];
                var local = Instant.FromUnixTimeSeconds(x.s).InUtc().LocalDateTime;
                if (zone.MapLocal(local).Count != 1)
                {
                    return;
                }

                var text = local.ToString("uuuu'-'MM'-'dd'T'HH':'mm':'ss", CultureInfo.InvariantCulture);
                var expected = local.InZoneStrictly(zone).ToInstant().ToUnixTimeSeconds();
                Assert.Equal(expected, TimeRangeResolver.Resolve(text, null, null, Zones[x.z], 1_700_000_000).Value.Start);
            });
    }

    [Fact]
    public void NumericText_ReadsBackTheSameDouble()
    {
        Gen.Double.Where(double.IsFinite).Sample(d =>
        {
            var text = d.ToString("R", CultureInfo.InvariantCulture);
            Assert.Equal(d, TimeRangeResolver.Resolve(text, null, null, null, 1_700_000_000).Value.Start);
        });
    }
}
