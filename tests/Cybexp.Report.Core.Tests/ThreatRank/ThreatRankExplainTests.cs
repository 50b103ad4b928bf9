using System.Diagnostics;
using Cybexp.Report.Core.Reports.ThreatRank;
using CsCheck;

namespace Cybexp.Report.Core.Tests.ThreatRank;

public sealed class ThreatRankExplainTests
{
    [Fact]
    public void Explain_ListsTheHeaviestPaths_OnRandomGraphs()
    {
        RandomScenario.Gen.Select(CsCheck.Gen.Int[1, 8]).Sample(
            (scenario, top) =>
            {
                var calculator = new ThreatRankCalculator(scenario.BuildGraph(), RandomScenario.Now, scenario.Decay);
                foreach (var target in scenario.Events.Where(e => !e.Malicious).Select(e => e.Hash))
                {
                    var reference = ReferenceThreatRank.Paths(scenario.Events, RandomScenario.Now, scenario.Decay, scenario.MaxHops, target)
                        .Where(p => p.Contribution > 0)
                        .ToList();
                    var explanation = calculator.Explain(target, scenario.MaxHops, top);
                    Assert.True(explanation.IsComplete, $"{scenario}: search budget hit");

                    // The heaviest contributions, as values (equal weights may list different paths).
                    var expected = reference.Select(p => p.Contribution).OrderByDescending(c => c).Take(top).ToList();
                    Assert.Equal(expected.Count, explanation.Paths.Count);
                    var byPath = reference.ToDictionary(p => string.Join(",", p.Nodes), p => p.Contribution);
                    for (var i = 0; i < expected.Count; i++)
                    {
                        var path = explanation.Paths[i];
                        ThreatRankPropertyTests.AssertClose(expected[i], path.Contribution, $"{scenario} {target} rank {i}");
                        var key = string.Join(",", path.Nodes.Select(n => (n.Kind == ThreatRankNodeKind.Event ? "e:" : "a:") + n.Hash));
                        Assert.True(byPath.TryGetValue(key, out var contribution), $"{scenario}: {key} is not a path");
                        ThreatRankPropertyTests.AssertClose(contribution, path.Contribution, key);
                        ThreatRankPropertyTests.AssertClose(path.Contribution / -explanation.Result.Score, path.Share, key);
                        Assert.Equal(target, path.Nodes[^1].Hash);
                    }

                    if (reference.Count <= top)
                    {
                        ThreatRankPropertyTests.AssertClose(explanation.Result.Score, -explanation.Paths.Sum(p => p.Contribution), $"{scenario} {target} all paths");
                    }
                }
            },
            iter: 120);
    }

    [Fact]
    public void Explain_StaysFast_OnAHubWithOneHundredThousandEvents()
    {
        const int hubEvents = 100_000;
        var random = new Random(7);
        var builder = new ThreatRankGraphBuilder();
        var hub = Hash(random);
        var pool = Enumerable.Range(0, 5_000).Select(_ => Hash(random)).ToArray();
        string? target = null;
        for (var i = 0; i < hubEvents; i++)
        {
            var hash = Hash(random);
            var malicious = i % 50 == 1;
            builder.AddEvent(hash, RandomScenario.Now - (random.Next(0, 400) * 86400.0), malicious, [hub, pool[random.Next(pool.Length)], pool[random.Next(pool.Length)]]);
            if (i == 0)
            {
                target = hash;
            }
        }

        var calculator = new ThreatRankCalculator(builder.Build(), RandomScenario.Now);
        var watch = Stopwatch.StartNew();
        var explanation = calculator.Explain(target!);
        watch.Stop();

        Assert.True(explanation.Result.Score < 0);
        Assert.Equal(10, explanation.Paths.Count);
        Assert.True(explanation.IsComplete);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"Explain took {watch.Elapsed}");
        for (var i = 1; i < explanation.Paths.Count; i++)
        {
            Assert.True(explanation.Paths[i - 1].Contribution >= explanation.Paths[i].Contribution);
        }
    }

    [Fact]
    public void Explain_OfAMaliciousEvent_ScoresMinusOneWithoutPaths()
    {
        var graph = ThreatRankExampleTests.WorkedExample(out var e1, out _);
        var explanation = new ThreatRankCalculator(graph, RandomScenario.Now).Explain(e1);
        Assert.Equal(-1.0, explanation.Result.Score);
        Assert.Empty(explanation.Paths);
    }

    [Fact]
    public void Explain_OfAnUnknownEvent_FailsWithEventNotFound()
    {
        var graph = ThreatRankExampleTests.WorkedExample(out _, out _);
        var explanation = new ThreatRankCalculator(graph, RandomScenario.Now).Explain(new string('0', 64));
        Assert.Equal(ThreatRankResult.EventNotFound, explanation.Result.FailureReason);
        Assert.Empty(explanation.Paths);
    }

    [Fact]
    public void Explain_RejectsTopAboveTheLimit()
    {
        var graph = ThreatRankExampleTests.WorkedExample(out _, out var e2);
        var calculator = new ThreatRankCalculator(graph, RandomScenario.Now);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => calculator.Explain(e2, 3, ThreatRankCalculator.MaxExplainTop + 1));
        Assert.Contains("top must be between 1 and 100", error.Message, StringComparison.Ordinal);
    }

    private static string Hash(Random random)
    {
        var bytes = new byte[32];
        random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
