using Cybexp.Report.Core.Reports.ThreatRank;
using CsCheck;

namespace Cybexp.Report.Core.Tests.ThreatRank;

public sealed class ThreatRankPropertyTests
{
    internal static void AssertClose(double expected, double actual, string context)
    {
        var tolerance = Math.Max(1e-9 * Math.Abs(expected), 1e-12);
        Assert.True(
            Math.Abs(expected - actual) <= tolerance,
            $"{context}: expected {expected:R}, got {actual:R} (difference {Math.Abs(expected - actual):R})");
    }

    [Fact]
    public void Score_EqualsBruteForceEnumeration_OnRandomGraphs()
    {
        RandomScenario.Gen.Sample(
            scenario =>
            {
                var calculator = new ThreatRankCalculator(scenario.BuildGraph(), RandomScenario.Now, scenario.Decay);
                var expected = ReferenceThreatRank.ScoreAll(scenario.Events, RandomScenario.Now, scenario.Decay, scenario.MaxHops);
                foreach (var (hash, value) in expected)
                {
                    var actual = calculator.Score(hash.ToUpperInvariant(), scenario.MaxHops);
                    Assert.True(actual.IsSuccess, $"{scenario}: {hash} not found");
                    AssertClose(value, actual.Score, $"{scenario} target {hash}");
                }
            },
            iter: 400);
    }

    [Fact]
    public void RankAll_EqualsScoringEachCandidate()
    {
        RandomScenario.Gen.Select(CsCheck.Gen.Int[1, 12]).Sample(
            (scenario, top) =>
            {
                var graph = scenario.BuildGraph();
                var calculator = new ThreatRankCalculator(graph, RandomScenario.Now, scenario.Decay);
                var candidates = Enumerable.Range(0, graph.EventCount).Where(e => e % 3 != 1).ToList();
                var ranked = calculator.RankAll(candidates, scenario.MaxHops, top);

                // A fresh calculator, so that no memoised sum is shared with the ranking.
                var single = new ThreatRankCalculator(graph, RandomScenario.Now, scenario.Decay);
                var expected = candidates
                    .Where(e => !graph.IsMalicious(e))
                    .Select(e => new RankedEvent(graph.EventHash(e), single.Score(e, scenario.MaxHops)))
                    .Where(r => r.Score < 0)
                    .OrderBy(r => r.Score)
                    .ThenBy(r => r.Hash, StringComparer.Ordinal)
                    .Take(top)
                    .ToList();
                Assert.Equal(expected, ranked);
            },
            iter: 200);
    }
}
