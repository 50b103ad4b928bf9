using System.Diagnostics;
using System.Globalization;
using Cybexp.Report.Core.Reports;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Generation;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Ingest;

namespace Cybexp.Report.Bench;

/// <summary>
/// Report latency through the whole pipeline (<see cref="ReportRunner"/>) on generated data:
/// <c>dotnet run -c Release --project bench/Cybexp.Report.Bench -- engines [--events N] [--store S] [--queries Q]</c>.
/// Without <c>--store</c> it generates N events into a fresh SQLite file; with one it uses the given (already
/// ingested) store. Prints p50/p99 per report type beside the targets of the issue.
/// </summary>
public static class EngineLatencyBenchmark
{
    private const int Warmup = 20;

    /// <summary>Runs the benchmark.</summary>
    public static async Task RunAsync(string[] args, CancellationToken ct)
    {
        var events = 100_000;
        var queries = 200;
        string? spec = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--events": events = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--queries": queries = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--store": spec = args[++i]; break;
                default: throw new ArgumentException($"unknown argument '{args[i]}' (accepted: --events N, --queries Q, --store S)");
            }
        }

        var options = new GeneratorOptions(events, Seed: 42);
        var dir = Directory.CreateTempSubdirectory("cybexp-engines-bench-").FullName;
        try
        {
            spec ??= "sqlite:" + Path.Combine(dir, "bench.db");
            await using var store = await StoreLocator.OpenAsync(spec, TimeProvider.System, ct).ConfigureAwait(false);
            var generator = new ArchiveGenerator(options);
            var watch = Stopwatch.StartNew();
            var counts = await store.Archive.CountByItypeAsync(ct).ConfigureAwait(false);
            var ingested = !counts.ContainsKey("event");
            if (ingested)
            {
                await new ArchiveIngestor(store.Archive, 5000).IngestAsync(TahoeDocumentRecords.From(generator.Documents()), (r, _) => throw new InvalidOperationException(r.Reason), null, ct).ConfigureAwait(false);
                Console.WriteLine($"ingested {events:N0} generated events into {store.Description} in {watch.Elapsed.TotalSeconds:F1} s");
            }

            var analyst = (await store.Identity.FindUserAsync(ArchiveGenerator.UserEmail(1, options.Orgs), ct).ConfigureAwait(false))!;
            var now = options.Start + (options.Days * 86400.0);
            // As a worker does (ThreatRankPreloader): the graph of the user's org set is built before queries arrive.
            var graphs = new ThreatRankGraphCache(store.Archive);
            var runner = new ReportRunner(store, null, graphs);
            var rng = new Random(1);
            var vis = await store.Identity.VisibilityOfAsync(analyst.Hash, ct).ConfigureAwait(false);
            var sample = new List<EventEdges>();
            await foreach (var e in store.Archive.VisibleEventsAsync(vis, ct).ConfigureAwait(false))
            {
                if (rng.Next(Math.Max(1, events / 2000)) == 0)
                {
                    sample.Add(e);
                }
            }

            var attrs = sample.SelectMany(e => e.Ref).Distinct().ToList();
            var sampled = (await store.Archive.GetDocumentsAsync(attrs.Take(500).ToList(), ct).ConfigureAwait(false)).Where(d => d.Itype == "attribute").ToList();

            // Attributes drawn through sampled events are weighted by use, so hubs come up often. "Ordinary" leaves out
            // those in at least 1 % of the events (hubs are measured on their own line below); how many were left out
            // is printed.
            var hubFloor = Math.Max(1, events / 100);
            var attrDocs = new List<ArchiveDocument>();
            foreach (var d in sampled)
            {
                if (await store.Archive.CountEventsAsync(d.Hash, EventFilter.Everything, vis, ct).ConfigureAwait(false) < hubFloor)
                {
                    attrDocs.Add(d);
                }
            }

            Console.WriteLine($"attributes: {sampled.Count} drawn through sampled events, {sampled.Count - attrDocs.Count} of them hubs (in >= {hubFloor:N0} events) left out of the ordinary ones");
            Console.WriteLine($"machine: {Environment.ProcessorCount} logical cores; {events:N0} events; {queries} queries per type after {Warmup} warm-up queries; now = {now}");
            var warm = Stopwatch.StartNew();
            await graphs.WarmAsync([vis], now, ct).ConfigureAwait(false);
            var graph = await graphs.GetAsync(vis, ct).ConfigureAwait(false);
            Console.WriteLine($"threatrank graph built and calculator prepared (worker start) in {warm.Elapsed.TotalSeconds:F2} s: {graph.EventCount:N0} events, {graph.AttributeCount:N0} attributes, {graph.EdgeCount:N0} edges, {graph.ApproximateBytes / (1024 * 1024)} MiB of arrays");

            async Task MeasureAsync(string label, string target, Func<int, (string QType, TahoeValue Qdata)> make)
            {
                var times = new List<(double Ms, TahoeDict Report)>();
                var failed = 0;

                // The first queries of a type JIT-compile its code path; a running worker has long done that. The
                // warm-up queries use other inputs (offset by `queries`) so the measured ones are not cache hits.
                for (var i = 0; i < Warmup + queries; i++)
                {
                    var (qtype, qdata) = make(i < Warmup ? queries + i : i - Warmup);
                    var t = Stopwatch.StartNew();
                    var outcome = await runner.RunAsync(new QueryInput(qtype, Canonical.Of(qdata), false, analyst.Hash.Value), now, ct).ConfigureAwait(false);
                    if (i >= Warmup)
                    {
                        times.Add((t.Elapsed.TotalMilliseconds, outcome.Report));
                        failed += outcome.Status == QueryStatus.Failed ? 1 : 0;
                    }
                }

                times.Sort((a, b) => a.Ms.CompareTo(b.Ms));
                var (p50, p99) = (times[times.Count / 2], times[(int)(times.Count * 0.99)]);

                // For counts, the answers of the p50 and p99 queries: how many events those attributes are in.
                var sizes = label.StartsWith("count", StringComparison.Ordinal) ? $"   (answers {CountOf(p50.Report)} / {CountOf(p99.Report)} events)" : string.Empty;
                Console.WriteLine($"{label,-34} p50 {p50.Ms,9:F2} ms   p99 {p99.Ms,9:F2} ms   (target {target}){(failed > 0 ? $"  {failed} failed" : string.Empty)}{sizes}");
            }

            static string CountOf(TahoeDict report) => report["data"] is { } data ? Canonical.Of(data) : "?";

            TahoeValue Attr(int i, params (string, TahoeValue)[] extra)
            {
                var d = attrDocs[i % attrDocs.Count];
                return TahoeValue.Dict([("sub_type", TahoeValue.String(d.SubType)), ("data", d.Document["data"]!), .. extra]);
            }

            await MeasureAsync("count (ordinary attributes)", "p50 <= 1 ms, p99 <= 5 ms", i => ("count", Attr(i))).ConfigureAwait(false);
            await MeasureAsync("count (hub ip)", "<= 20 ms", _ => ("count", TahoeValue.Dict(("sub_type", TahoeValue.String("ipv4")), ("data", TahoeValue.String(ArchiveGenerator.HubIp))))).ConfigureAwait(false);
            await MeasureAsync("related level 1 page", "p50 <= 10 ms", i => ("related", Attr(i))).ConfigureAwait(false);
            await MeasureAsync("related level 3", "p50 <= 100 ms", i => ("related", Attr(i, ("level", TahoeValue.Int(3))))).ConfigureAwait(false);
            await MeasureAsync("threatrank one event", "p50 <= 50 ms, p99 <= 500 ms", i => ("threatrank", TahoeValue.Dict(("_hash", TahoeValue.String(sample[i % sample.Count].Hash.Value))))).ConfigureAwait(false);
            var rank = Stopwatch.StartNew();
            var ranked = await runner.RunAsync(new QueryInput("threatrank", Canonical.Of(TahoeValue.Dict(("last", TahoeValue.String("30 d")), ("top", TahoeValue.Int(10)))), false, analyst.Hash.Value), now, ct).ConfigureAwait(false);
            Console.WriteLine($"{"threatrank ranking of 30 days",-34} {rank.Elapsed.TotalSeconds,9:F2} s   (target <= 30 s) {ranked.Status}");
            var self = Process.GetCurrentProcess();
            Console.WriteLine($"working set now: {self.WorkingSet64 / (1024 * 1024)} MiB; peak: {self.PeakWorkingSet64 / (1024 * 1024)} MiB{(ingested ? " (includes the ingest above; run again on the ingested store for the worker's figure)" : string.Empty)} (target <= 1536 MiB for 1M events)");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }
}
