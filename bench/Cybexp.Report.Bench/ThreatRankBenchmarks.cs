using BenchmarkDotNet.Attributes;
using Cybexp.Report.Core.Reports.ThreatRank;

namespace Cybexp.Report.Bench;

/// <summary>ThreatRank on generated graphs of 100k and 1M events (see <see cref="ThreatRankGraphGenerator"/>).</summary>
[MemoryDiagnoser]
public class ThreatRankBenchmarks
{
    private ThreatRankGraph _graph = null!;
    private ThreatRankCalculator _warm = null!;
    private int[] _targets = [];
    private int _next;

    /// <summary>Number of events in the generated graph.</summary>
    [Params(100_000, 1_000_000)]
    public int Events { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _graph = ThreatRankGraphGenerator.Generate(Events, seed: 42);
        _warm = new ThreatRankCalculator(_graph, ThreatRankGraphGenerator.Now);
        _targets = ThreatRankLatency.PickTargets(_graph, 1024, seed: 7);
    }

    /// <summary>The per-report preparation: weights and walk-sum vectors, O(edges).</summary>
    [Benchmark]
    public ThreatRankCalculator PrepareCalculator() => new(_graph, ThreatRankGraphGenerator.Now);

    /// <summary>One score on a calculator that has already scored other events (memo partly warm).</summary>
    [Benchmark]
    public double ScoreOneEvent() => _warm.Score(_targets[_next++ % _targets.Length]);

    /// <summary>Rank the last 30 days, including the preparation of a fresh calculator.</summary>
    [Benchmark]
    public int RankLast30Days() =>
        new ThreatRankCalculator(_graph, ThreatRankGraphGenerator.Now)
            .RankAll(ThreatRankGraphGenerator.Now - (30 * 86400.0), ThreatRankGraphGenerator.Now, top: 1000).Count;
}
