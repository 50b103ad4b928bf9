extern alias cli;

using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Generation;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Ingest;

namespace Cybexp.Report.Bench;

/// <summary>
/// The ingest load run outside BenchmarkDotNet:
/// <c>dotnet run -c Release --project bench/Cybexp.Report.Bench -- ingest [--events N] [--store postgres:…] [--seed S] [--batch B]</c>.
/// Generates N events (about 5 attributes each) to a temporary file, then ingests it into a fresh SQLite file and,
/// when a PostgreSQL store is given (<c>--store</c> or <c>CYBEXP_BENCH_POSTGRES</c>), into PostgreSQL; prints
/// events per second beside the targets, CPU time, peak working set and store bytes per event.
/// </summary>
/// <remarks>
/// PostgreSQL is measured twice unless <c>--no-warm-up</c> is given: first a warm-up ingest of the same file into a
/// scratch database (created beside the given one and dropped after), then the measured ingest into the given
/// database. Both figures are printed beside the target. The first ingest into a server that has never written that
/// much pays for the server's first WAL files and, on a virtual machine that hands free memory back to its host, for
/// every page of memory the server's files newly occupy; a server in service pays for neither (see
/// <c>docs/storage.md</c>).
/// </remarks>
public static class IngestBenchmark
{
    private const double SqliteTarget = 50_000;
    private const double PostgresTarget = 25_000;
    private const double MemoryTargetMiB = 300;

    /// <summary>Runs the benchmark with command-line style arguments.</summary>
    public static async Task RunAsync(string[] args, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        var events = 200_000;
        var seed = 42;
        int? batch = null;
        string? postgres = Environment.GetEnvironmentVariable("CYBEXP_BENCH_POSTGRES");
        var sqlite = true;
        var warmUp = true;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--events": events = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--seed": seed = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--batch": batch = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--store": postgres = args[++i]; break;
                case "--no-sqlite": sqlite = false; break;
                case "--no-warm-up": warmUp = false; break;
                default: throw new ArgumentException($"unknown argument '{args[i]}' (accepted: --events N, --seed S, --batch B, --store postgres:CONNECTION_STRING, --no-sqlite, --no-warm-up)");
            }
        }

        if (postgres is not null && !postgres.StartsWith("postgres", StringComparison.OrdinalIgnoreCase))
        {
            postgres = "postgres:" + postgres;
        }

        var dir = Directory.CreateTempSubdirectory("cybexp-ingest-bench-").FullName;
        try
        {
            var input = Path.Combine(dir, "archive.ndjson");
            var watch = Stopwatch.StartNew();
            GeneratorSummary summary;
            await using (var writer = new StreamWriter(input, append: false, new UTF8Encoding(false), 1 << 16))
            {
                summary = await new ArchiveGenerator(new GeneratorOptions(events, seed)).WriteAsync(writer, cancellationToken).ConfigureAwait(false);
            }

            var attributesPerEvent = await AttributesPerEventAsync(input, cancellationToken).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"input: {summary.Events:N0} events, {summary.Documents:N0} documents, {new FileInfo(input).Length / 1048576.0:F0} MiB NDJSON, {attributesPerEvent:F1} attributes per event; generated in {watch.Elapsed.TotalSeconds:F1} s"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"machine: {Environment.ProcessorCount} logical cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1073741824.0:F0} GiB available to .NET, batch {batch?.ToString(CultureInfo.InvariantCulture) ?? "the store's default"}"));

            await ReadOnlyAsync(input, summary.Events, cancellationToken).ConfigureAwait(false);
            NewFilePages(dir);

            if (sqlite)
            {
                var sqlitePath = Path.Combine(dir, "bench.db");
                await IngestAsync("sqlite:" + sqlitePath, input, summary.Events, batch, SqliteTarget, cancellationToken).ConfigureAwait(false);
                var bytes = new[] { "", "-wal", "-shm" }.Select(s => sqlitePath + s).Where(File.Exists).Sum(p => new FileInfo(p).Length);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"sqlite store size: {bytes / 1048576.0:F0} MiB, {(double)bytes / summary.Events:F0} bytes per event (database file plus WAL)"));
            }

            if (postgres is not null)
            {
                if (warmUp)
                {
                    await WarmUpAsync(postgres, input, summary.Events, batch, cancellationToken).ConfigureAwait(false);
                }

                await IngestAsync(postgres, input, summary.Events, batch, PostgresTarget, cancellationToken).ConfigureAwait(false);
                await PostgresSizeAsync(postgres, summary.Events, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                Console.WriteLine("postgres: skipped (give --store postgres:CONNECTION_STRING or set CYBEXP_BENCH_POSTGRES)");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Reading, parsing and verifying alone: the share of the ingest that is not the store.</summary>
    private static async Task ReadOnlyAsync(string input, long events, CancellationToken cancellationToken)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        long documents = 0;
        using (var reader = new StreamReader(input))
        {
            await foreach (var record in TahoeDocumentReader.ReadAsync(reader, cancellationToken).ConfigureAwait(false))
            {
                if (record.Document is { } doc && DocumentVerifier.Verify(doc).Count == 0 && ArchiveDocument.TryCreate(doc, out var archived, out _))
                {
                    _ = StoredDocumentText.Of(archived!);
                    documents++;
                }
            }
        }

        process.Refresh();
        var seconds = watch.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"read+verify only (no store): {documents:N0} documents in {seconds:F1} s wall, {(process.TotalProcessorTime - cpu).TotalSeconds:F1} s CPU = {events / seconds:N0} events/s"));
    }

    /// <summary>
    /// What this machine charges for memory that its files newly occupy, which every store's writes do (a new
    /// PostgreSQL cluster's WAL files as well): the system CPU of writing a new 512 MiB file, of overwriting it, and of
    /// writing a second new file right after deleting the first (into the memory the first one freed). A virtual
    /// machine that hands free memory back to its host charges the first case and not the third; the figures of one
    /// state of a machine are only comparable with each other.
    /// </summary>
    private static void NewFilePages(string dir)
    {
        const int mib = 512;
        var path = Path.Combine(dir, "pages.bin");
        var chunk = new byte[1 << 20];
        Array.Fill(chunk, (byte)0x5A);
        var process = Process.GetCurrentProcess();
        try
        {
            var times = new double[3];
            for (var pass = 0; pass < times.Length; pass++)
            {
                if (pass == 2)
                {
                    File.Delete(path);
                }

                process.Refresh();
                var before = process.PrivilegedProcessorTime;
                using (var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.Write))
                {
                    for (var i = 0; i < mib; i++)
                    {
                        RandomAccess.Write(handle, chunk, (long)i << 20);
                    }
                }

                process.Refresh();
                times[pass] = (process.PrivilegedProcessorTime - before).TotalSeconds;
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"machine: writing a new {mib} MiB file cost {times[0]:F2} s of system CPU ({times[0] * 1024 / mib:F1} s per GiB), overwriting it {times[1]:F2} s, a new file after deleting it {times[2]:F2} s (memory not used recently is what the stores below pay for; see bench/results/ingest.md)"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// The warm-up ingest: the same file into a scratch database on the same server, created here and dropped after.
    /// Skipped, with the reason, when the server refuses to create it.
    /// </summary>
    private static async Task WarmUpAsync(string spec, string input, long events, int? batch, CancellationToken cancellationToken)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(spec["postgres:".Length..]);
        var given = builder.Database ?? builder.Username ?? "postgres";
        var scratch = string.Create(CultureInfo.InvariantCulture, $"{given}_warm_up_{Environment.ProcessId}");
        var quoted = "\"" + scratch.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        await using (var conn = new Npgsql.NpgsqlConnection(builder.ConnectionString))
        {
            await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await using var create = new Npgsql.NpgsqlCommand($"CREATE DATABASE {quoted};", conn);
                await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Npgsql.PostgresException e)
            {
                Console.WriteLine($"postgres warm-up: skipped, the server did not create a scratch database ({e.SqlState}: {e.MessageText}); the figure below is a first ingest");
                return;
            }
        }

        builder.Database = scratch;
        try
        {
            Console.WriteLine($"postgres warm-up: the same file into the scratch database {scratch}, dropped after; on a server that has not ingested this much before, its figure is what a first ingest costs");
            await IngestAsync("postgres:" + builder.ConnectionString, input, events, batch, PostgresTarget, cancellationToken, "warm-up").ConfigureAwait(false);
        }
        finally
        {
            Npgsql.NpgsqlConnection.ClearAllPools();
            builder.Database = given;
            await using var conn = new Npgsql.NpgsqlConnection(builder.ConnectionString);
            await conn.OpenAsync(CancellationToken.None).ConfigureAwait(false);
            await using var drop = new Npgsql.NpgsqlCommand($"DROP DATABASE IF EXISTS {quoted} WITH (FORCE);", conn);
            await drop.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<IngestSummary> IngestAsync(string spec, string input, long events, int? batch, double target, CancellationToken cancellationToken, string? run = null)
    {
        var kind = spec[..spec.IndexOf(':', StringComparison.Ordinal)];
        var name = run is null ? kind : kind + " " + run;
        var loadBefore = LoadAverage();
        await using var store = await StoreLocator.OpenAsync(spec, TimeProvider.System, cancellationToken).ConfigureAwait(false);
        var process = Process.GetCurrentProcess();
        GC.Collect();
        var cpu = process.TotalProcessorTime;
        var systemCpu = process.PrivilegedProcessorTime;
        var writtenBefore = BytesWritten();
        var postmaster = kind == "postgres" ? await PostmasterPidAsync(spec, cancellationToken).ConfigureAwait(false) : null;
        var serverCpu = ServerCpuSeconds(postmaster);
        var walBefore = kind == "postgres" ? await WalAsync(spec, cancellationToken).ConfigureAwait(false) : default;
        long rejected = 0;
        var timed = new TimedArchive(store.Archive);
        var watch = Stopwatch.StartNew();
        IngestSummary summary;
        // Opened as `cybexp-report ingest` opens its files (asynchronous, sequential, 64 KiB buffer).
        using (var reader = cli::Cybexp.Report.Cli.Commands.DocumentFiles.Open(input))
        {
            summary = await new ArchiveIngestor(timed, batch).IngestAsync(
                TahoeDocumentReader.ReadTextsAsync(reader, cancellationToken),
                (_, _) =>
                {
                    rejected++;
                    return Task.CompletedTask;
                },
                progress: null,
                cancellationToken).ConfigureAwait(false);
        }

        var seconds = watch.Elapsed.TotalSeconds;
        process.Refresh();
        var cpuSeconds = (process.TotalProcessorTime - cpu).TotalSeconds;
        var systemSeconds = (process.PrivilegedProcessorTime - systemCpu).TotalSeconds;
        var written = BytesWritten() - writtenBefore;
        var serverSeconds = ServerCpuSeconds(postmaster) - serverCpu;
        var walAfter = kind == "postgres" ? await WalAsync(spec, cancellationToken).ConfigureAwait(false) : default;
        var rate = events / seconds;
        var peak = process.PeakWorkingSet64 / 1048576.0;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name} ({store.Description}): {summary.Inserted:N0} inserted, {summary.Duplicates:N0} duplicates, {summary.Rejected:N0} rejected, {summary.DanglingReferences:N0} dangling references"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name} ingest: {seconds:F1} s wall, {cpuSeconds:F1} s CPU (this process; {systemSeconds:F1} system) -> {rate:N0} events/s (target >= {target:N0}: {(rate >= target ? "met" : "NOT met")}); {events / cpuSeconds:N0} events per CPU-second"));
        if (serverSeconds.Total > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name} server processes on this machine: {serverSeconds.Total:F1} s CPU ({serverSeconds.User:F1} user, {serverSeconds.System:F1} system); with this process {events / (cpuSeconds + serverSeconds.Total):N0} events per CPU-second"));
        }

        if (walAfter.Bytes is { } after && walBefore.Bytes is { } before)
        {
            var files = walAfter.Files is { } n1 && walBefore.Files is { } n0
                ? string.Create(CultureInfo.InvariantCulture, $"; files in pg_wal: {n0:N0} before, {n1:N0} after")
                : "";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name} server WAL written: {(after - before) / 1e9:F2} GB{files} (a server creates the WAL files it has never had, which costs it system CPU: see docs/storage.md)"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name} time inside the store: {timed.Writes.TotalSeconds:F1} s writing (transactions), {timed.Dangling.TotalSeconds:F1} s counting dangling references; the rest is reading and verifying"));
        if (written is { } bytes)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name} bytes this process wrote: {bytes / 1e9:F2} GB, {bytes / (double)events:F0} per event (its write calls: an embedded store's database, WAL and checkpoints; a server's connection)"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name} peak working set (whole run so far): {peak:F0} MiB (target <= {MemoryTargetMiB:F0} MiB: {(peak <= MemoryTargetMiB ? "met" : "NOT met")})"));
        Console.WriteLine($"{name} load average (1, 5, 15 min) before: {loadBefore}; after: {LoadAverage()}");
        return summary;
    }

    /// <summary>The size of the archive tables with their indexes (and TOAST) in the PostgreSQL database.</summary>
    private static async Task PostgresSizeAsync(string spec, long events, CancellationToken cancellationToken)
    {
        await using var conn = new Npgsql.NpgsqlConnection(spec["postgres:".Length..]);
        await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new Npgsql.NpgsqlCommand(
            "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c WHERE c.relkind = 'r' AND c.relname IN ('instances', 'events', 'event_refs', 'event_orgs', 'session_events', 'users', 'orgs', 'org_members') AND c.relnamespace = to_regnamespace(current_schema())::oid;",
            conn);
        var bytes = (long)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) ?? 0L);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"postgres store size: {bytes / 1048576.0:F0} MiB, {(double)bytes / events:F0} bytes per event (archive tables with indexes, without WAL)"));
    }

    /// <summary>
    /// The process id of the PostgreSQL server this store talks to when it runs on this machine (the parent of our
    /// backend process), or null.
    /// </summary>
    private static async Task<int?> PostmasterPidAsync(string spec, CancellationToken cancellationToken)
    {
        await using var conn = new Npgsql.NpgsqlConnection(spec["postgres:".Length..]);
        await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT pg_backend_pid();", conn);
        var backend = (int)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        var status = Path.Combine("/proc", backend.ToString(CultureInfo.InvariantCulture), "status");
        if (!File.Exists(status))
        {
            return null; // another machine
        }

        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("PPid:", StringComparison.Ordinal));
        return line is null ? null : int.Parse(line["PPid:".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The server's WAL position in bytes (<c>pg_current_wal_insert_lsn()</c>: every byte of WAL inserted so far, by any
    /// session, without the delay of the statistics views) and the number of files in its <c>pg_wal</c> (needs
    /// superuser or <c>pg_monitor</c>); null where not available.
    /// </summary>
    private static async Task<(long? Bytes, long? Files)> WalAsync(string spec, CancellationToken cancellationToken)
    {
        await using var conn = new Npgsql.NpgsqlConnection(spec["postgres:".Length..]);
        await conn.OpenAsync(cancellationToken).ConfigureAwait(false);

        async Task<long?> ScalarOrNull(string sql)
        {
            try
            {
                await using var cmd = new Npgsql.NpgsqlCommand(sql, conn);
                return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
            }
            catch (Npgsql.PostgresException e) when (e.SqlState is Npgsql.PostgresErrorCodes.InsufficientPrivilege or Npgsql.PostgresErrorCodes.UndefinedTable or Npgsql.PostgresErrorCodes.ObjectNotInPrerequisiteState)
            {
                return null;
            }
        }

        return (await ScalarOrNull("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint;").ConfigureAwait(false),
            await ScalarOrNull("SELECT count(*) FROM pg_ls_waldir();").ConfigureAwait(false));
    }

    /// <summary>
    /// CPU seconds used so far by a local PostgreSQL server, in user and system mode: the postmaster, its live child
    /// processes (backends, checkpointer, WAL writer …) and the children it has reaped (so that a backend ending
    /// between two readings still counts), read from /proc; 0 without one. Other servers on the machine are not
    /// counted.
    /// </summary>
    private static ServerCpu ServerCpuSeconds(int? postmaster)
    {
        if (postmaster is not { } root)
        {
            return default;
        }

        double user = 0, system = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var name = Path.GetFileName(dir);
                if (!char.IsAsciiDigit(name[0]))
                {
                    continue;
                }

                // After the command in parentheses: state (field 3), ppid (4), …, utime (14), stime (15), and the reaped
                // children's cutime (16) and cstime (17).
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var pid = int.Parse(name, CultureInfo.InvariantCulture);
                var ppid = int.Parse(fields[1], CultureInfo.InvariantCulture);
                if (pid == root || ppid == root)
                {
                    user += double.Parse(fields[11], CultureInfo.InvariantCulture);
                    system += double.Parse(fields[12], CultureInfo.InvariantCulture);
                    if (pid == root)
                    {
                        user += double.Parse(fields[13], CultureInfo.InvariantCulture);
                        system += double.Parse(fields[14], CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
            {
                // A process that ended meanwhile.
            }
        }

        return new ServerCpu(user / 100.0, system / 100.0); // USER_HZ is 100 on Linux
    }

    /// <summary>CPU seconds of a server's processes.</summary>
    private readonly record struct ServerCpu(double User, double System)
    {
        public double Total => User + System;

        public static ServerCpu operator -(ServerCpu a, ServerCpu b) => new(a.User - b.User, a.System - b.System);
    }

    /// <summary>Bytes this process has handed to write calls so far (<c>wchar</c> of /proc/self/io), or null.</summary>
    private static long? BytesWritten()
    {
        try
        {
            var line = File.ReadLines("/proc/self/io").FirstOrDefault(l => l.StartsWith("wchar:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line["wchar:".Length..].Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The machine's load average (other processes slow a wall-clock figure down), or "n/a".</summary>
    private static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return string.Join(", ", parts.Take(3));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "n/a";
        }
    }

    private static async Task<double> AttributesPerEventAsync(string input, CancellationToken cancellationToken)
    {
        // Attribute values inside the events' data (objects' attributes included), over the first 10,000 events.
        long events = 0, refs = 0;
        using var reader = new StreamReader(input);
        await foreach (var record in TahoeDocumentReader.ReadAsync(reader, cancellationToken).ConfigureAwait(false))
        {
            if (record.Document is { } doc && doc["itype"] is TahoeString { Value: "event" } && doc["data"] is TahoeDict data)
            {
                events++;
                refs += Leaves(data);
                if (events == 10_000)
                {
                    break;
                }
            }
        }

        return events == 0 ? 0 : (double)refs / events;
    }

    private static long Leaves(TahoeValue value) => value switch
    {
        TahoeDict d => d.Entries.Sum(e => Leaves(e.Value)),
        TahoeList l => l.Items.Sum(Leaves),
        _ => 1,
    };

    /// <summary>The archive with the wall time spent in its writes and in the dangling-reference count.</summary>
    private sealed class TimedArchive(IArchiveStore inner) : IArchiveStore
    {
        public TimeSpan Writes { get; private set; }

        public TimeSpan Dangling { get; private set; }

        public async Task<WriteSummary> WriteAsync(IReadOnlyList<ArchiveDocument> batch, CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            var result = await inner.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
            AddWriteTime(start);
            return result;
        }

        public int PreferredTransactionSize => inner.PreferredTransactionSize;

        public async Task<IArchiveWrite> BeginWriteAsync(CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            var write = await inner.BeginWriteAsync(cancellationToken).ConfigureAwait(false);
            AddWriteTime(start);
            return new TimedWrite(this, write);
        }

        /// <summary>The store's own write sequence (PostgreSQL overlaps its commits), its writes timed.</summary>
        public IArchiveWriteSequence BeginWriteSequence() => new TimedSequence(this, inner.BeginWriteSequence());

        public async Task<long> CountDanglingReferencesAsync(CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            var result = await inner.CountDanglingReferencesAsync(cancellationToken).ConfigureAwait(false);
            Dangling += Stopwatch.GetElapsedTime(start);
            return result;
        }

        public Task<IReadOnlyDictionary<string, long>> CountByItypeAsync(CancellationToken cancellationToken) => inner.CountByItypeAsync(cancellationToken);

        public Task<long> CountEventsAsync(InstanceHash instance, EventFilter filter, Visibility visibility, CancellationToken cancellationToken) =>
            inner.CountEventsAsync(instance, filter, visibility, cancellationToken);

        public Task<IReadOnlyList<BucketCount>> CountEventsByBucketAsync(InstanceHash instance, EventFilter filter, Visibility visibility, double origin, double bucketSeconds, CancellationToken cancellationToken) =>
            inner.CountEventsByBucketAsync(instance, filter, visibility, origin, bucketSeconds, cancellationToken);

        public Task<(double First, double Last)?> EventTimeSpanAsync(InstanceHash instance, EventFilter filter, Visibility visibility, CancellationToken cancellationToken) =>
            inner.EventTimeSpanAsync(instance, filter, visibility, cancellationToken);

        public Task<IReadOnlyList<InstanceHash>> PageEventsAsync(InstanceHash instance, EventFilter filter, Visibility visibility, int skip, int take, CancellationToken cancellationToken) =>
            inner.PageEventsAsync(instance, filter, visibility, skip, take, cancellationToken);

        public Task<IReadOnlyList<ArchiveDocument>> GetDocumentsAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken) =>
            inner.GetDocumentsAsync(hashes, cancellationToken);

        public Task<IReadOnlyList<InstanceHash>> SessionsOfEventAsync(InstanceHash eventHash, CancellationToken cancellationToken) =>
            inner.SessionsOfEventAsync(eventHash, cancellationToken);

        public Task<IReadOnlyList<InstanceHash>> EventsOfSessionAsync(InstanceHash session, Visibility visibility, int take, CancellationToken cancellationToken) =>
            inner.EventsOfSessionAsync(session, visibility, take, cancellationToken);

        public IAsyncEnumerable<EventEdges> VisibleEventsAsync(Visibility visibility, CancellationToken cancellationToken) =>
            inner.VisibleEventsAsync(visibility, cancellationToken);

        public Task<IReadOnlySet<InstanceHash>> AttributesAmongAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken) =>
            inner.AttributesAmongAsync(hashes, cancellationToken);

        public Task<long> VersionAsync(CancellationToken cancellationToken) => inner.VersionAsync(cancellationToken);

        public async Task TimeAsync(Func<Task> step)
        {
            var start = Stopwatch.GetTimestamp();
            await step().ConfigureAwait(false);
            AddWriteTime(start);
        }

        /// <summary>Adds the time since <paramref name="start"/> (overlapping commits of a sequence each add theirs).</summary>
        public void AddWriteTime(long start)
        {
            var elapsed = Stopwatch.GetElapsedTime(start);
            lock (this)
            {
                Writes += elapsed;
            }
        }
    }

    /// <summary>A store's write sequence whose transactions are timed (<see cref="TimedWrite"/>).</summary>
    private sealed class TimedSequence(TimedArchive owner, IArchiveWriteSequence inner) : IArchiveWriteSequence
    {
        public int CommitsInFlight => inner.CommitsInFlight;

        public async Task<IArchiveWrite> BeginWriteAsync(CancellationToken cancellationToken)
        {
            var start = Stopwatch.GetTimestamp();
            var write = await inner.BeginWriteAsync(cancellationToken).ConfigureAwait(false);
            owner.AddWriteTime(start);
            return new TimedWrite(owner, write);
        }
    }

    /// <summary>A write transaction whose calls add their wall time to the archive's <see cref="TimedArchive.Writes"/>.</summary>
    private sealed class TimedWrite(TimedArchive owner, IArchiveWrite inner) : IArchiveWrite
    {
        public Task AddAsync(IReadOnlyList<ArchiveDocument> documents, CancellationToken cancellationToken) =>
            owner.TimeAsync(() => inner.AddAsync(documents, cancellationToken));

        public async Task<WriteSummary> CommitAsync(CancellationToken cancellationToken)
        {
            WriteSummary? summary = null;
            await owner.TimeAsync(async () => summary = await inner.CommitAsync(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
            return summary!;
        }

        public bool WorkWhileIdle()
        {
            var start = Stopwatch.GetTimestamp();
            var worked = inner.WorkWhileIdle();
            owner.AddWriteTime(start);
            return worked;
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
