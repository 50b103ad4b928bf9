using System.Globalization;
using Cybexp.Report.Core.Reports.ThreatRank;

namespace Cybexp.Report.Bench;

/// <summary>
/// A deterministic large visible graph for ThreatRank benchmarks: about five attributes per
/// event, heavy-tailed attribute reuse plus five hubs (each in ~10% of events), 2% malicious
/// events, timestamps spread over the year before <see cref="Now"/>.
/// </summary>
public static class ThreatRankGraphGenerator
{
    /// <summary>The time the benchmarks score at: 2021-07-01T00:00:00Z.</summary>
    public const double Now = 1625097600.0;

    private const int HubCount = 5;
    private const double HubPickRate = 0.10;
    private const double MaliciousRate = 0.02;
    private const double Year = 365 * 86400.0;

    /// <summary>Builds the graph of <paramref name="events"/> events from <paramref name="seed"/>.</summary>
    public static ThreatRankGraph Generate(int events, int seed)
    {
        var random = new Random(seed);
        var builder = new ThreatRankGraphBuilder();
        var attributes = new List<string>(8);
        for (var i = 0; i < events; i++)
        {
            attributes.Clear();
            var count = random.Next(3, 8);
            for (var k = 0; k < count; k++)
            {
                long index = random.NextDouble() < HubPickRate
                    ? random.Next(HubCount)
                    : HubCount + (long)(events * Math.Pow(random.NextDouble(), 2));
                attributes.Add(AttributeHash(index));
            }

            builder.AddEvent(EventHash(i), Now - (random.NextDouble() * Year), random.NextDouble() < MaliciousRate, attributes);
        }

        return builder.Build();
    }

    // Distinct by construction (the index is in the text); the mixing makes hash order differ from index order.
    private static string EventHash(long index) => Mix(index, 0x0e);

    private static string AttributeHash(long index) => Mix(index, 0x0a);

    private static string Mix(long index, int kind)
    {
        var mixed = unchecked((ulong)index * 0x9E3779B97F4A7C15UL);
        return string.Create(CultureInfo.InvariantCulture, $"{mixed:x16}{kind:x16}{index:x16}{mixed ^ 0xFFFFUL:x16}");
    }
}
