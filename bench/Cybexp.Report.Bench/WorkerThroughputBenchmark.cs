using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Notification;
using Cybexp.Report.Service.Worker;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cybexp.Report.Bench;

/// <summary>
/// Whole-system load run of the report worker:
/// <c>dotnet run -c Release --project bench/Cybexp.Report.Bench -- worker-throughput [--queries N] [--store S]</c>.
/// Ingests a small generated archive (fixed seed), enqueues N <c>count</c> queries through the store, and measures
/// reports per second with one worker (SQLite) or two workers on separate store instances (PostgreSQL, standing in
/// for two processes), then the median submit-to-report latency and the CPU use of an idle worker.
/// </summary>
public static class WorkerThroughputBenchmark
{
    private const double Now = 1_625_097_600;
    private const int Seed = 20_210_701;

    /// <summary>Runs the benchmark and prints one summary table.</summary>
    public static async Task RunAsync(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var queries = 5000;
        string? spec = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--queries" when i + 1 < args.Length:
                    queries = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--store" when i + 1 < args.Length:
                    spec = args[++i];
                    break;
                default:
                    throw new ArgumentException($"unknown argument '{args[i]}': use worker-throughput [--queries N] [--store S]");
            }
        }

        using var stop = new CancellationTokenSource();
        var ct = stop.Token;
        string? tempDir = null;
        if (spec is null)
        {
            tempDir = Directory.CreateTempSubdirectory("cybexp-bench-").FullName;
            spec = "sqlite:" + Path.Combine(tempDir, "bench.db");
        }

        var postgres = spec.StartsWith("postgres", StringComparison.OrdinalIgnoreCase);
        var workerCount = postgres ? 2 : 1;
        var stores = new List<ICybexpStore>();
        try
        {
            for (var i = 0; i < workerCount; i++)
            {
                stores.Add(await StoreLocator.OpenAsync(spec, TimeProvider.System, ct).ConfigureAwait(false));
            }

            var store = stores[0];
            var (user, ip) = await IngestAsync(store, ct).ConfigureAwait(false);
            var qdata = Canonical.Of(PythonJson.Parse($$"""{"sub_type": "ipv4", "data": "{{ip}}"}"""));
            var options = new WorkerOptions { FixedNow = Now };
            var workers = stores.Select((s, i) => new ReportWorker(s, options with { WorkerId = $"bench-{i}" }, null, new TcpNotifier(new NotifierOptions(), NullLogger<TcpNotifier>.Instance), TimeProvider.System, NullLoggerFactory.Instance)).ToList();
            using var workerStop = new CancellationTokenSource();
            var running = workers.Select(w => Task.Run(() => w.RunAsync(workerStop.Token), CancellationToken.None)).ToList();

            // Warm-up (JIT, connection pools), not measured.
            await ThroughputAsync(store, qdata, user, Math.Min(1000, queries), ct).ConfigureAwait(false);
            var throughput = await ThroughputAsync(store, qdata, user, queries, ct).ConfigureAwait(false);
            var latencies = await LatenciesAsync(store, qdata, user, 200, ct).ConfigureAwait(false);
            var idleCpu = await IdleCpuAsync(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);

            await workerStop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(running).ConfigureAwait(false);
            Print(spec, workerCount, options.Parallelism, queries, throughput, latencies, idleCpu, postgres);
        }
        finally
        {
            foreach (var s in stores)
            {
                await s.DisposeAsync().ConfigureAwait(false);
            }

            if (tempDir is not null)
            {
                Directory.Delete(tempDir, recursive: true);
            }
        }
    }

    /// <summary>One org with one user, 500 events over 40 IPv4 addresses and 25 URLs, generated from a fixed seed.</summary>
    private static async Task<(string User, string Ip)> IngestAsync(ICybexpStore store, CancellationToken ct)
    {
        var random = new Random(Seed);
        var user = TahoeUser.Create("analyst@bench.example", "bench-password", "Analyst");
        var org = TahoeOrg.Create("bench-org", [user], [user], "Bench Org");
        var docs = new List<TahoeDict>();
        docs.AddRange(user.Descendants.Select(d => d.Document));
        docs.Add(user.Document);
        docs.AddRange(org.Descendants.Select(d => d.Document));
        docs.Add(org.Document);
        var ips = Enumerable.Range(0, 40).Select(i => TahoeAttribute.Create("ipv4", $"203.0.113.{i + 1}")).ToList();
        var urls = Enumerable.Range(0, 25).Select(i => TahoeAttribute.Create("url", $"http://bench{i}.example/payload")).ToList();
        docs.AddRange(ips.Select(a => a.Document));
        docs.AddRange(urls.Select(a => a.Document));
        for (var e = 0; e < 500; e++)
        {
            TahoeInstance[] children = [ips[random.Next(ips.Count)], urls[random.Next(urls.Count)]];
            var ev = TahoeEvent.Create("file_download", children, org.Hash.Value, Now - random.Next(1, 365 * 86_400));
            docs.Add((random.Next(4) == 0 ? ev.SetCategory("malicious") : ev).Document);
        }

        var archive = new List<ArchiveDocument>();
        foreach (var doc in docs)
        {
            archive.Add(ArchiveDocument.TryCreate(doc, out var ad, out var error) ? ad! : throw new InvalidOperationException(error));
        }

        await store.Archive.WriteAsync(archive, ct).ConfigureAwait(false);
        return (user.Hash.Value, "203.0.113.1");
    }

    /// <summary>Enqueues <paramref name="n"/> queries while the workers run, and times until every one has ended.</summary>
    private static async Task<(double PerSecond, double CpuMsPerReport)> ThroughputAsync(ICybexpStore store, string qdata, string user, int n, CancellationToken ct)
    {
        var before = await EndedAsync(store, ct).ConfigureAwait(false);
        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < n; i++)
        {
            await store.Queries.EnqueueAsync(new QuerySubmission("count", qdata, false, user, null, null), ct).ConfigureAwait(false);
        }

        // Counting by status scans the table: every 50 ms costs little next to the workers, at most 50 ms of error.
        while (await EndedAsync(store, ct).ConfigureAwait(false) < before + n)
        {
            await Task.Delay(50, ct).ConfigureAwait(false);
        }

        var elapsed = clock.Elapsed;
        self.Refresh();
        return (n / elapsed.TotalSeconds, (self.TotalProcessorTime - cpu).TotalMilliseconds / n);
    }

    private static async Task<long> EndedAsync(ICybexpStore store, CancellationToken ct)
    {
        var counts = await store.Queries.CountByStatusAsync(ct).ConfigureAwait(false);
        return counts.GetValueOrDefault(QueryStatus.Ready) + counts.GetValueOrDefault(QueryStatus.Failed);
    }

    /// <summary>Submits one query at a time to idle workers and waits for its end, as an HTTP <c>wait</c> would.</summary>
    private static async Task<List<double>> LatenciesAsync(ICybexpStore store, string qdata, string user, int n, CancellationToken ct)
    {
        var result = new List<double>(n);
        for (var i = 0; i < n; i++)
        {
            // Let the workers fall idle (waiting for a signal) before each submission.
            await Task.Delay(5, ct).ConfigureAwait(false);
            var clock = Stopwatch.StartNew();
            var id = await store.Queries.EnqueueAsync(new QuerySubmission("count", qdata, false, user, null, null), ct).ConfigureAwait(false);
            var record = await store.Queries.WaitForEndAsync(id, TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
            if (record?.Status != QueryStatus.Ready)
            {
                throw new InvalidOperationException($"query {id} ended {record?.Status}: {record?.Error}");
            }

            result.Add(clock.Elapsed.TotalMilliseconds);
        }

        result.Sort();
        return result;
    }

    /// <summary>This process's CPU use while the workers are idle, as a share of one core.</summary>
    private static async Task<double> IdleCpuAsync(TimeSpan span, CancellationToken ct)
    {
        // Let background re-compilation after the load settle first.
        await Task.Delay(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        using var self = Process.GetCurrentProcess();
        var before = self.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await Task.Delay(span, ct).ConfigureAwait(false);
        self.Refresh();
        return (self.TotalProcessorTime - before).TotalSeconds / clock.Elapsed.TotalSeconds;
    }

    private static void Print(string spec, int workers, int parallelism, int queries, (double PerSecond, double CpuMsPerReport) throughput, List<double> latencies, double idleCpu, bool postgres)
    {
        static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
        var median = latencies[latencies.Count / 2];
        var p95 = latencies[(int)(latencies.Count * 0.95)];
        Console.WriteLine($"worker-throughput: {StoreLocator.Redact(spec.StartsWith("sqlite:", StringComparison.Ordinal) ? "sqlite (temporary file)" : spec)}, {workers} worker(s) x parallelism {parallelism}, {queries} count queries");
        Console.WriteLine($"machine: {MachineDescription()}");
        Console.WriteLine($"load average when done: {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| metric | value | target |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine(postgres
            ? $"| throughput, {workers} workers on PostgreSQL | {F(throughput.PerSecond, "0")} reports/s | >= 1500 reports/s |"
            : $"| throughput, 1 worker on SQLite | {F(throughput.PerSecond, "0")} reports/s | >= 1000 reports/s |");
        Console.WriteLine($"| CPU per report (submit + claim + compute + store, this process) | {F(throughput.CpuMsPerReport, "0.00")} ms | - |");
        Console.WriteLine($"| submit-to-report latency, idle, median | {F(median, "0.0")} ms | <= 20 ms |");
        Console.WriteLine($"| submit-to-report latency, idle, p95 | {F(p95, "0.0")} ms | - |");
        Console.WriteLine($"| idle CPU (whole process) | {F(idleCpu * 100, "0.00")} % of a core | <= 1 % |");
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static string MachineDescription()
    {
        var cpu = "unknown CPU";
        if (File.Exists("/proc/cpuinfo"))
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }

        return $"{cpu}, {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}";
    }
}
