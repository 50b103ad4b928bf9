using System.Diagnostics;
using System.Globalization;
using Cybexp.Report.Core.Reports.ThreatRank;

namespace Cybexp.Report.Bench;

/// <summary>
/// A quick latency run outside BenchmarkDotNet:
/// <c>dotnet run -c Release --project bench/Cybexp.Report.Bench -- threatrank-latency [events] [targets]</c>.
/// </summary>
public static class ThreatRankLatency
{
    /// <summary>Non-malicious events chosen uniformly with a fixed seed.</summary>
    public static int[] PickTargets(ThreatRankGraph graph, int count, int seed)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var random = new Random(seed);
        var targets = new int[count];
        for (var i = 0; i < count; i++)
        {
            int e;
            do
            {
                e = random.Next(graph.EventCount);
            }
            while (graph.IsMalicious(e));
            targets[i] = e;
        }

        return targets;
    }

    /// <summary>Generates the graph, then prints preparation time, score latencies and the 30-day ranking time.</summary>
    public static void Run(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var events = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
        var count = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 500;
        var now = ThreatRankGraphGenerator.Now;

        // CPU time beside wall time: on a shared machine wall time also counts waiting for a core.
        var process = Process.GetCurrentProcess();
        var watch = Stopwatch.StartNew();
        var graph = ThreatRankGraphGenerator.Generate(events, seed: 42);
        var built = watch.Elapsed;
        var maxDegree = Enumerable.Range(0, graph.AttributeCount).Max(graph.AttributeDegree);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"graph: {graph.EventCount:N0} events, {graph.AttributeCount:N0} attributes, {graph.EdgeCount:N0} edges, largest attribute {maxDegree:N0} events, ~{graph.ApproximateBytes / (1024.0 * 1024.0):F0} MiB; built in {built.TotalSeconds:F1} s"));

        GC.Collect();
        var before = GC.GetTotalMemory(true);
        var cpu = CpuTime(process);
        watch.Restart();
        var calculator = new ThreatRankCalculator(graph, now);
        var prepared = watch.Elapsed;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"prepare calculator (per report, O(edges)): {prepared.TotalMilliseconds:F0} ms wall, {(CpuTime(process) - cpu).TotalMilliseconds:F0} ms CPU, +{(GC.GetTotalMemory(false) - before) / (1024.0 * 1024.0):F0} MiB"));

        var targets = PickTargets(graph, count, seed: 7);
        cpu = CpuTime(process);
        var times = new double[targets.Length];
        for (var i = 0; i < targets.Length; i++)
        {
            watch.Restart();
            calculator.Score(targets[i]);
            times[i] = watch.Elapsed.TotalMilliseconds;
        }

        Report($"score, one calculator, {count} random targets (first ones fill the memo)", times, "p50 <= 50 ms, p99 <= 500 ms");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  CPU for those {count} scores: {(CpuTime(process) - cpu).TotalMilliseconds:F0} ms"));

        var coldTimes = new double[Math.Min(20, count)];
        var coldCpu = TimeSpan.Zero;
        for (var i = 0; i < coldTimes.Length; i++)
        {
            var fresh = new ThreatRankCalculator(graph, now);
            cpu = CpuTime(process);
            watch.Restart();
            fresh.Score(targets[i]);
            coldTimes[i] = watch.Elapsed.TotalMilliseconds;
            coldCpu += CpuTime(process) - cpu;
        }

        Report($"score, fresh calculator each ({coldTimes.Length} targets, preparation excluded)", coldTimes, "p50 <= 50 ms, p99 <= 500 ms");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  CPU for those {coldTimes.Length} scores: {coldCpu.TotalMilliseconds:F0} ms"));

        watch.Restart();
        var explanation = calculator.Explain(graph.EventHash(targets[0]));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"explain top 10: {watch.Elapsed.TotalMilliseconds:F0} ms ({explanation.Paths.Count} paths, complete: {explanation.IsComplete})"));

        var inRange = Enumerable.Range(0, graph.EventCount).Count(e => graph.EventTimestamp(e) >= now - (30 * 86400.0));
        cpu = CpuTime(process);
        watch.Restart();
        var ranking = new ThreatRankCalculator(graph, now);
        var ranked = ranking.RankAll(now - (30 * 86400.0), now, top: 1000);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rank 30-day range ({inRange:N0} events, fresh calculator included): {watch.Elapsed.TotalSeconds:F1} s wall, {(CpuTime(process) - cpu).TotalSeconds:F1} s CPU, {ranked.Count} listed (target <= 30 s)"));
    }

    private static TimeSpan CpuTime(Process process)
    {
        process.Refresh();
        return process.TotalProcessorTime;
    }

    private static void Report(string what, double[] milliseconds, string target)
    {
        var sorted = milliseconds.Order().ToArray();
        double Percentile(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what}: p50 {Percentile(0.50):F2} ms, p99 {Percentile(0.99):F2} ms, max {sorted[^1]:F2} ms (target {target})"));
    }
}
