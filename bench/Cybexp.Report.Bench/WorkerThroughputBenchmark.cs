using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Notification;
using Cybexp.Report.Service.Worker;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Cybexp.Report.Bench;

/// <summary>
/// Whole-system load run of the report worker:
/// <c>dotnet run -c Release --project bench/Cybexp.Report.Bench -- worker-throughput [--queries N] [--store S]
/// [--workers W] [--in-process | --processes] [--parallelism P] [--submitters K] [--warmup N]</c>.
/// Ingests a small generated archive (fixed seed), enqueues N <c>count</c> queries through the store, and measures
/// reports per second, then the median submit-to-report latency and the CPU use of idle workers.
/// </summary>
/// <remarks>
/// SQLite runs one worker inside the benchmark process (as <c>serve</c> does: SQLite wakes workers in-process only).
/// PostgreSQL runs two worker processes by default: <c>cybexp-report worker</c> started from this build, as an operator
/// starts them; <c>--in-process</c> runs the workers inside the benchmark process instead, each with its own store.
/// CPU is counted per report for the benchmark process (submitting and polling), the worker processes and, when the
/// PostgreSQL server runs on this machine, the server; their sum bounds what an idle machine can reach.
/// </remarks>
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
        int? workerCount = null;
        bool? separate = null;
        int? parallelism = null;
        var submitters = 1;
        int? warmup = null;
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
                case "--workers" when i + 1 < args.Length:
                    workerCount = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--parallelism" when i + 1 < args.Length:
                    parallelism = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--submitters" when i + 1 < args.Length:
                    submitters = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--warmup" when i + 1 < args.Length:
                    warmup = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--in-process":
                    separate = false;
                    break;
                case "--processes":
                    separate = true;
                    break;
                default:
                    throw new ArgumentException(
                        $"unknown argument '{args[i]}': use worker-throughput [--queries N] [--store S] [--workers W] [--in-process | --processes] [--parallelism P] [--submitters K] [--warmup N]");
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
        // Worker processes start with the benchmark: until the JIT has re-compiled their hot code (tiered compilation),
        // they spend up to half their CPU compiling. The default warm-up of 10,000 queries gets them close to the
        // steady state of a long-running worker.
        var run = new Setup(spec, postgres, workerCount ?? (postgres ? 2 : 1), separate ?? postgres, parallelism ?? new WorkerOptions().Parallelism, submitters, queries, warmup ?? 10_000);
        var loadBefore = LoadAverage();
        ICybexpStore? store = null;
        WorkerFleet? fleet = null;
        try
        {
            store = await StoreLocator.OpenAsync(spec, TimeProvider.System, ct).ConfigureAwait(false);
            var (user, ip) = await IngestAsync(store, ct).ConfigureAwait(false);
            var qdata = Canonical.Of(PythonJson.Parse($$"""{"sub_type": "ipv4", "data": "{{ip}}"}"""));
            var server = postgres ? await ServerCpu.FindAsync(spec[(spec.IndexOf(':', StringComparison.Ordinal) + 1)..], ct).ConfigureAwait(false) : null;
            fleet = run.Separate ? await WorkerFleet.StartProcessesAsync(run, store, ct).ConfigureAwait(false) : await WorkerFleet.StartInProcessAsync(run, store, ct).ConfigureAwait(false);

            // Warm-up (JIT, connection pools), not measured.
            if (run.Warmup > 0)
            {
                await ThroughputAsync(store, run, qdata, user, run.Warmup, fleet, server, ct).ConfigureAwait(false);
            }

            var throughput = await ThroughputAsync(store, run, qdata, user, queries, fleet, server, ct).ConfigureAwait(false);
            var latencies = await LatenciesAsync(store, qdata, user, 200, ct).ConfigureAwait(false);
            var idle = await IdleCpuAsync(fleet, TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
            await fleet.DisposeAsync().ConfigureAwait(false);
            fleet = null;
            Print(run, throughput, latencies, idle, loadBefore);
        }
        finally
        {
            if (fleet is not null)
            {
                // The run failed: show what the worker processes said.
                await fleet.DisposeAsync().ConfigureAwait(false);
                foreach (var line in fleet.Output.Split('\n').TakeLast(40))
                {
                    await Console.Error.WriteLineAsync(line).ConfigureAwait(false);
                }
            }

            if (store is not null)
            {
                await store.DisposeAsync().ConfigureAwait(false);
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
    private static async Task<Throughput> ThroughputAsync(
        ICybexpStore store, Setup run, string qdata, string user, int n, WorkerFleet fleet, ServerCpu? server, CancellationToken ct)
    {
        var before = await EndedAsync(store, ct).ConfigureAwait(false);
        var cpuBench = BenchCpu();
        var cpuWorkers = fleet.WorkerCpu();
        var cpuServer = server?.Total();
        var clock = Stopwatch.StartNew();
        var next = 0;
        var submitters = Enumerable.Range(0, run.Submitters).Select(_ => Task.Run(
            async () =>
            {
                while (Interlocked.Increment(ref next) <= n)
                {
                    await store.Queries.EnqueueAsync(new QuerySubmission("count", qdata, false, user, null, null), ct).ConfigureAwait(false);
                }
            },
            ct));
        await Task.WhenAll(submitters).ConfigureAwait(false);
        var submitted = clock.Elapsed;

        // Counting by status scans the table: every 50 ms costs little next to the workers, at most 50 ms of error.
        var ended = before;
        var progress = Stopwatch.StartNew();
        while (await EndedAsync(store, ct).ConfigureAwait(false) is var now && now < before + n)
        {
            if (now != ended)
            {
                ended = now;
                progress.Restart();
            }
            else if (progress.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException($"no query ended for 60 s ({now - before} of {n} done): are the workers running? (see their logs)");
            }

            await Task.Delay(50, ct).ConfigureAwait(false);
        }

        var elapsed = clock.Elapsed;
        return new Throughput(
            n / elapsed.TotalSeconds,
            submitted / elapsed,
            (BenchCpu() - cpuBench).TotalMilliseconds / n,
            run.Separate ? (fleet.WorkerCpu() - cpuWorkers).TotalMilliseconds / n : null,
            server is null ? null : (server.Total() - cpuServer!.Value).TotalMilliseconds / n);
    }

    private static TimeSpan BenchCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
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

    /// <summary>CPU use while the workers are idle, as a share of one core: the benchmark process, and the busiest worker process.</summary>
    private static async Task<(double Bench, double? Worker)> IdleCpuAsync(WorkerFleet fleet, TimeSpan span, CancellationToken ct)
    {
        // Let background re-compilation after the load settle first.
        await Task.Delay(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        var bench = BenchCpu();
        var workers = fleet.EachWorkerCpu();
        var clock = Stopwatch.StartNew();
        await Task.Delay(span, ct).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var busiest = fleet.EachWorkerCpu().Zip(workers, (after, b) => (after - b).TotalSeconds / seconds).DefaultIfEmpty().Max();
        return ((BenchCpu() - bench).TotalSeconds / seconds, fleet.IsSeparate ? busiest : null);
    }

    private static void Print(Setup run, Throughput throughput, List<double> latencies, (double Bench, double? Worker) idle, string loadBefore)
    {
        static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
        var median = latencies[latencies.Count / 2];
        var p95 = latencies[(int)(latencies.Count * 0.95)];
        var where = run.Separate ? $"{run.Workers} worker process(es)" : $"{run.Workers} worker(s) in the benchmark process";
        Console.WriteLine($"worker-throughput: {StoreLocator.Redact(run.Spec.StartsWith("sqlite:", StringComparison.Ordinal) ? "sqlite (temporary file)" : run.Spec)}, {where} x parallelism {run.Parallelism}, {run.Submitters} submitter(s), {run.Queries} count queries after {run.Warmup} unmeasured");
        Console.WriteLine($"machine: {MachineDescription()}");
        Console.WriteLine($"load average before: {loadBefore}; when done: {LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| metric | value | target |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine(run.Postgres
            ? $"| throughput, {run.Workers} {(run.Separate ? "worker processes" : "workers in one process")} on PostgreSQL | {F(throughput.PerSecond, "0")} reports/s | >= 1500 reports/s (2 worker processes) |"
            : $"| throughput, {run.Workers} worker(s) on SQLite | {F(throughput.PerSecond, "0")} reports/s | >= 1000 reports/s (1 worker) |");
        Console.WriteLine($"| time until every query was submitted ({run.Submitters} submitter(s)) | {F(throughput.SubmittedShare * 100, "0")} % of the run | - |");
        var total = throughput.BenchCpuMs;
        if (run.Separate)
        {
            Console.WriteLine($"| CPU per report, benchmark process (submit + poll) | {F(throughput.BenchCpuMs, "0.00")} ms | - |");
            Console.WriteLine($"| CPU per report, worker processes (claim + compute + store) | {F(throughput.WorkerCpuMs!.Value, "0.00")} ms | - |");
            total += throughput.WorkerCpuMs!.Value;
        }
        else
        {
            Console.WriteLine($"| CPU per report, benchmark process (submit + claim + compute + store) | {F(throughput.BenchCpuMs, "0.00")} ms | - |");
        }

        if (throughput.ServerCpuMs is { } serverMs)
        {
            Console.WriteLine($"| CPU per report, PostgreSQL server | {F(serverMs, "0.00")} ms | - |");
            total += serverMs;
        }

        Console.WriteLine($"| CPU per report, all of the above | {F(total, "0.00")} ms | - |");
        Console.WriteLine($"| reports/s that much CPU allows on {Environment.ProcessorCount} idle cores | {F(Environment.ProcessorCount * 1000 / total, "0")} reports/s | - |");
        Console.WriteLine($"| submit-to-report latency, idle, median | {F(median, "0.0")} ms | <= 20 ms |");
        Console.WriteLine($"| submit-to-report latency, idle, p95 | {F(p95, "0.0")} ms | - |");
        Console.WriteLine($"| idle CPU, benchmark process{(run.Separate ? string.Empty : " (with the workers)")} | {F(idle.Bench * 100, "0.00")} % of a core | <= 1 % |");
        if (idle.Worker is { } w)
        {
            Console.WriteLine($"| idle CPU, busiest worker process | {F(w * 100, "0.00")} % of a core | <= 1 % |");
        }
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

    private sealed record Setup(string Spec, bool Postgres, int Workers, bool Separate, int Parallelism, int Submitters, int Queries, int Warmup);

    // SubmittedShare: the share of the run's time the submitters took to enqueue every query (near 1 when the workers
    // keep up with them, so the submitters set the pace).
    private sealed record Throughput(double PerSecond, double SubmittedShare, double BenchCpuMs, double? WorkerCpuMs, double? ServerCpuMs);

    /// <summary>The workers under test: in this process, or <c>cybexp-report worker</c> processes.</summary>
    private sealed class WorkerFleet : IAsyncDisposable
    {
        private readonly List<Process> _processes = [];
        private readonly List<Task<string>> _drains = [];
        private readonly List<ICybexpStore> _stores = [];
        private readonly List<Task> _running = [];
        private readonly CancellationTokenSource _stop = new();

        public bool IsSeparate => _processes.Count > 0;

        /// <summary>What the worker processes wrote, once they ended.</summary>
        public string Output { get; private set; } = string.Empty;

        public static async Task<WorkerFleet> StartInProcessAsync(Setup run, ICybexpStore submitterStore, CancellationToken ct)
        {
            var fleet = new WorkerFleet();
            var options = new WorkerOptions { FixedNow = Now, Parallelism = run.Parallelism };
            for (var i = 0; i < run.Workers; i++)
            {
                // SQLite wakes its workers in-process through the store it shares; PostgreSQL workers get a store each,
                // as separate processes would.
                var store = run.Postgres ? await StoreLocator.OpenAsync(run.Spec, TimeProvider.System, ct).ConfigureAwait(false) : submitterStore;
                if (run.Postgres)
                {
                    fleet._stores.Add(store);
                }

                var worker = new ReportWorker(
                    store, options with { WorkerId = $"bench-{i}" }, null, new TcpNotifier(new NotifierOptions(), NullLogger<TcpNotifier>.Instance), TimeProvider.System, NullLoggerFactory.Instance);
                fleet._running.Add(Task.Run(() => worker.RunAsync(fleet._stop.Token), CancellationToken.None));
            }

            return fleet;
        }

        public static async Task<WorkerFleet> StartProcessesAsync(Setup run, ICybexpStore store, CancellationToken ct)
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "cybexp-report.dll");
            if (!File.Exists(dll))
            {
                throw new InvalidOperationException($"{dll} is missing: the benchmark project references the CLI project so that it is built next to it");
            }

            var fleet = new WorkerFleet();
            var live = await store.Queries.CountLiveWorkersAsync(0, ct).ConfigureAwait(false);
            for (var i = 0; i < run.Workers; i++)
            {
                var psi = new ProcessStartInfo("dotnet")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    RedirectStandardInput = true,
                    UseShellExecute = false,
                };
                foreach (var a in new[] { dll, "worker", "--store", run.Spec, "--now", Now.ToString("R", CultureInfo.InvariantCulture), "--parallelism", run.Parallelism.ToString(CultureInfo.InvariantCulture) })
                {
                    psi.ArgumentList.Add(a);
                }

                foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("CYBEXP_", StringComparison.Ordinal)).ToList())
                {
                    psi.Environment.Remove(key);
                }

                psi.Environment["CYBEXP_WORKER__ID"] = $"bench-{Environment.ProcessId}-{i}";
                var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start a worker process");
                process.StandardInput.Close();
                fleet._processes.Add(process);
                fleet._drains.Add(process.StandardOutput.ReadToEndAsync(CancellationToken.None));
                fleet._drains.Add(process.StandardError.ReadToEndAsync(CancellationToken.None));
            }

            // Every worker announces itself with a heartbeat once it runs.
            var clock = Stopwatch.StartNew();
            while (await store.Queries.CountLiveWorkersAsync(0, ct).ConfigureAwait(false) < live + run.Workers)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60) || fleet._processes.Any(p => p.HasExited))
                {
                    await fleet.DisposeAsync().ConfigureAwait(false);
                    throw new InvalidOperationException("the worker processes did not start");
                }

                await Task.Delay(100, ct).ConfigureAwait(false);
            }

            return fleet;
        }

        public TimeSpan WorkerCpu() => EachWorkerCpu().Aggregate(TimeSpan.Zero, (a, b) => a + b);

        public List<TimeSpan> EachWorkerCpu()
        {
            foreach (var p in _processes)
            {
                p.Refresh();
            }

            return [.. _processes.Select(p => p.TotalProcessorTime)];
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(_running).ConfigureAwait(false);
            foreach (var s in _stores)
            {
                await s.DisposeAsync().ConfigureAwait(false);
            }

            _stores.Clear();
            foreach (var p in _processes)
            {
                if (!p.HasExited)
                {
                    // SIGTERM: the worker shuts down gracefully and retires its heartbeat.
                    using var term = Process.Start("kill", ["-TERM", p.Id.ToString(CultureInfo.InvariantCulture)]);
                    await term.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }

            foreach (var p in _processes)
            {
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await p.WaitForExitAsync(wait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    p.Kill();
                }

                p.Dispose();
            }

            _processes.Clear();
            var outputs = await Task.WhenAll(_drains).ConfigureAwait(false);
            Output = string.Concat(outputs);
            _stop.Dispose();
        }
    }

    /// <summary>
    /// CPU time of a PostgreSQL server on this machine: the postmaster with its exited children (reaped, so counted in
    /// its own totals) plus its live children. Null when the server is elsewhere or /proc is not readable.
    /// </summary>
    private sealed class ServerCpu(int postmaster)
    {
        public static async Task<ServerCpu?> FindAsync(string connectionString, CancellationToken ct)
        {
            if (!OperatingSystem.IsLinux())
            {
                return null;
            }

            await using var conn = new NpgsqlConnection(connectionString);
            await conn.OpenAsync(ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT pg_backend_pid();", conn);
            var backend = (int)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            var parent = Status(backend, "PPid:");
            return parent is { } p && File.Exists($"/proc/{p}/stat") && File.ReadAllText($"/proc/{p}/comm").Trim() == "postgres" ? new ServerCpu(p) : null;
        }

        public TimeSpan Total()
        {
            var ticks = Ticks(postmaster, withChildren: true);
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Status(pid, "PPid:") == postmaster)
                {
                    ticks += Ticks(pid, withChildren: false);
                }
            }

            // Linux reports in clock ticks of 1/100 s (USER_HZ).
            return TimeSpan.FromMilliseconds(ticks * 10.0);
        }

        private static int? Status(int pid, string field)
        {
            try
            {
                var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
                return line is null ? null : int.Parse(line[field.Length..].Trim(), CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                return null;
            }
        }

        private static long Ticks(int pid, bool withChildren)
        {
            try
            {
                // Fields after the command name (which is in parentheses and may hold spaces): utime is field 14.
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var own = long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
                return withChildren ? own + long.Parse(f[13], CultureInfo.InvariantCulture) + long.Parse(f[14], CultureInfo.InvariantCulture) : own;
            }
            catch (IOException)
            {
                return 0;
            }
        }
    }
}
