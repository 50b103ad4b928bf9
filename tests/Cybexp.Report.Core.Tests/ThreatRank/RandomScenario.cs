using System.Globalization;
using Cybexp.Report.Core.Reports.ThreatRank;
using CsCheck;

namespace Cybexp.Report.Core.Tests.ThreatRank;

/// <summary>
/// A small random visible graph with hubs, cycles, several malicious sources and malicious
/// intermediates, generated deterministically from a seed.
/// </summary>
internal sealed record RandomScenario(int Seed, int EventCount, int AttributePool, int Hubs, double MaliciousRate, double Decay, int MaxHops)
{
    public const double Now = 1625097600.0;

    public static readonly Gen<RandomScenario> Gen =
        CsCheck.Gen.Select(
            CsCheck.Gen.Int[0, int.MaxValue],
            CsCheck.Gen.Int[2, 28],
            CsCheck.Gen.Int[1, 24],
            CsCheck.Gen.Int[0, 2],
            CsCheck.Gen.Double[0.0, 0.45],
            CsCheck.Gen.OneOf(
                CsCheck.Gen.Const(1.0),
                CsCheck.Gen.Const(0.998),
                CsCheck.Gen.Const(0.00001),
                CsCheck.Gen.Double[0.00001, 1.0]),
            CsCheck.Gen.Int[1, 3],
            (seed, n, pool, hubs, rate, decay, hops) => new RandomScenario(seed, n, pool, hubs, rate, decay, hops));

    public IReadOnlyList<ReferenceEvent> Events { get; } = Generate(Seed, EventCount, AttributePool, Hubs, MaliciousRate);

    public ThreatRankGraph BuildGraph()
    {
        var builder = new ThreatRankGraphBuilder();
        foreach (var e in Events)
        {
            builder.AddEvent(e.Hash, e.Timestamp, e.Malicious, e.Attributes);
        }

        return builder.Build();
    }

    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"seed={Seed} events={EventCount} pool={AttributePool} hubs={Hubs} rate={MaliciousRate} decay={Decay} H={MaxHops}");

    private static List<ReferenceEvent> Generate(int seed, int eventCount, int pool, int hubs, double maliciousRate)
    {
        var random = new Random(seed);
        var attributeHashes = Enumerable.Range(0, pool + hubs).Select(_ => RandomHash(random)).ToArray();
        var hubJoinRate = Enumerable.Range(0, hubs).Select(_ => 0.5 + (0.45 * random.NextDouble())).ToArray();
        var events = new List<ReferenceEvent>();
        for (var i = 0; i < eventCount; i++)
        {
            var attributes = new List<string>();
            var count = random.Next(0, 5);
            for (var k = 0; k < count; k++)
            {
                // Skewed towards low indices: a heavy-tailed reuse of attributes.
                var index = (int)(pool * Math.Pow(random.NextDouble(), 2));
                attributes.Add(attributeHashes[index]);
            }

            for (var h = 0; h < hubs; h++)
            {
                if (random.NextDouble() < hubJoinRate[h])
                {
                    attributes.Add(attributeHashes[pool + h]);
                }
            }

            // Ages from −2 days (a clock skew, counted as 0) to 400 days, in seconds.
            var age = (random.NextDouble() * 402.0 * 86400.0) - (2.0 * 86400.0);
            events.Add(new ReferenceEvent(RandomHash(random), Now - age, random.NextDouble() < maliciousRate, attributes));
        }

        return events;
    }

    private static string RandomHash(Random random)
    {
        var bytes = new byte[32];
        random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
