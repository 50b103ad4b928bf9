using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Storage.Postgres;
using Cybexp.Report.Storage.Tests;
using Npgsql;
using Xunit.Abstractions;

namespace Cybexp.Report.Service.Tests;

/// <summary>
/// Several <c>cybexp-report worker</c> processes on one real PostgreSQL: every query is processed exactly once, none is
/// lost, a worker killed with SIGKILL loses nothing, and idle workers do not spin.
/// </summary>
public sealed class WorkerClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _schema = "t_" + Guid.NewGuid().ToString("N");
    private readonly List<WorkerProcess> _processes = [];
    private PostgresStore? _store;
    private string _connectionString = string.Empty;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    private static string Carol => Datasets.Named("D1_tiny").Users["carol"].Value;

    public async Task InitializeAsync()
    {
        _connectionString = (await PostgresServer.GetAsync()).ConnectionString;
        _store = await PostgresStore.OpenAsync(_connectionString, TimeProvider.System, Ct, _schema);
        await _store.Archive.WriteAsync([.. Datasets.Named("D1_tiny").Everything], Ct);
    }

    public async Task DisposeAsync()
    {
        foreach (var p in _processes)
        {
            p.Dispose();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        await using var conn = new NpgsqlConnection(_connectionString);
        await conn.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE;", conn);
        await drop.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task FourWorkerProcesses_Process2000Queries_EachExactlyOnce()
    {
        const int n = 2000;
        var ids = await EnqueueAsync(n);
        for (var i = 0; i < 4; i++)
        {
            _processes.Add(StartWorker("--parallelism", "4"));
        }

        var clock = Stopwatch.StartNew();
        await WaitUntilAllEndedAsync(n, TimeSpan.FromSeconds(90));
        output.WriteLine($"{n} queries through 4 worker processes in {clock.Elapsed.TotalSeconds:0.0} s (including process start)");
        var (statuses, attempts) = await SummaryAsync();
        Assert.Equal(new Dictionary<string, long> { [QueryStatus.Ready] = n }, statuses);
        Assert.Equal(new Dictionary<int, long> { [1] = n }, attempts);
        Assert.Equal(n, ids.Distinct().Count());

        // Idle workers sleep on LISTEN/NOTIFY and the poll interval: near-zero CPU. Measured once the runtime has
        // finished re-compiling the hot paths in the background (several seconds after a burst of work).
        var idle = _processes[0];
        await Task.Delay(TimeSpan.FromSeconds(8));
        idle.Process.Refresh();
        var before = idle.Process.TotalProcessorTime;
        await Task.Delay(TimeSpan.FromSeconds(3));
        idle.Process.Refresh();
        var used = idle.Process.TotalProcessorTime - before;
        output.WriteLine($"idle worker CPU over 3 s: {used.TotalMilliseconds} ms");
        Assert.True(used < TimeSpan.FromMilliseconds(150), $"an idle worker used {used.TotalMilliseconds} ms of CPU in 3 s");

        // Graceful stop: exit 0; the workers' own tallies add up to exactly one completion per query.
        var ready = 0L;
        foreach (var p in _processes)
        {
            var (exit, log) = await p.StopAsync();
            Assert.True(exit == 0, $"worker exited {exit}:\n{log}");
            var tally = Tally(log);
            ready += tally.Ready;
            Assert.True(tally.Lost == 0, log);
        }

        Assert.Equal(n, ready);
    }

    [Fact]
    public async Task WorkerKilledMidRun_LosesNothing_ItsQueriesCompleteOnceAfterTheLeaseExpires()
    {
        const int n = 1500;
        await EnqueueAsync(n);
        var victim = StartWorker("--parallelism", "4", "--lease", "2");
        _processes.Add(victim);
        var survivor = StartWorker("--parallelism", "4", "--lease", "2");
        _processes.Add(survivor);

        // Kill the victim while it holds claims.
        var victimTokens = victim.WorkerId + "#%";
        var clock = Stopwatch.StartNew();
        while (await CountAsync("status = 'processing' AND lease_token LIKE $1", victimTokens) == 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the victim never claimed a query");
            await Task.Delay(5);
        }

        victim.Process.Kill();
        await victim.Process.WaitForExitAsync(Ct);
        var stranded = await IdsAsync("status = 'processing' AND lease_token LIKE $1", victimTokens);
        Assert.NotEmpty(stranded);

        await WaitUntilAllEndedAsync(n, TimeSpan.FromSeconds(90));
        var (statuses, _) = await SummaryAsync();
        Assert.Equal(new Dictionary<string, long> { [QueryStatus.Ready] = n }, statuses);
        foreach (var id in stranded)
        {
            var record = (await _store!.Queries.GetAsync(id, Ct))!;
            Assert.Equal(QueryStatus.Ready, record.Status);
            Assert.Equal(2, record.Attempts);
        }

        Assert.Equal(0, await CountAsync("attempts NOT IN (1, 2) OR report IS NULL", null));
        var (exit, log) = await survivor.StopAsync();
        Assert.True(exit == 0, log);
        Assert.Equal(0, Tally(log).Lost);
    }

    private async Task<List<long>> EnqueueAsync(int n)
    {
        var qdata = Core.Tahoe.Canonical.Of(Core.Tahoe.PythonJson.Parse("""{"sub_type": "ipv4", "data": "198.51.100.7"}"""));
        var ids = new List<long>(n);
        for (var i = 0; i < n; i++)
        {
            ids.Add(await _store!.Queries.EnqueueAsync(new QuerySubmission("count", qdata, false, Carol, null, null), Ct));
        }

        return ids;
    }

    private WorkerProcess StartWorker(params string[] extra)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "cybexp-report.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project references the CLI project so that it is built and copied");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("worker");
        psi.ArgumentList.Add("--store");
        psi.ArgumentList.Add("postgres:" + new NpgsqlConnectionStringBuilder(_connectionString) { SearchPath = _schema }.ConnectionString);
        psi.ArgumentList.Add("--now");
        psi.ArgumentList.Add("1625097600");
        foreach (var a in extra)
        {
            psi.ArgumentList.Add(a);
        }

        // Only this test's settings: no inherited CYBEXP_* variables. The worker id (set through the environment, as an
        // operator would) lets the test find the claims of one worker.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("CYBEXP_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        var workerId = "cluster-" + (_processes.Count + 1).ToString(CultureInfo.InvariantCulture) + "-" + _schema[2..10];
        psi.Environment["CYBEXP_WORKER__ID"] = workerId;
        return new WorkerProcess(Process.Start(psi)!, workerId);
    }

    private async Task WaitUntilAllEndedAsync(int n, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var counts = await _store!.Queries.CountByStatusAsync(Ct);
            if (counts.GetValueOrDefault(QueryStatus.Ready) + counts.GetValueOrDefault(QueryStatus.Failed) == n)
            {
                return;
            }

            Assert.True(clock.Elapsed < limit, $"not done after {limit}: {string.Join(", ", counts)}\n{string.Join("\n---\n", _processes.Select(p => p.Log))}");
            await Task.Delay(200);
        }
    }

    private async Task<(Dictionary<string, long> Statuses, Dictionary<int, long> Attempts)> SummaryAsync()
    {
        var statuses = new Dictionary<string, long>((await _store!.Queries.CountByStatusAsync(Ct)).ToDictionary(kv => kv.Key, kv => kv.Value));
        var attempts = new Dictionary<int, long>();
        await using var conn = await OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT attempts, count(*) FROM queries GROUP BY attempts ORDER BY attempts;", conn);
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        while (await r.ReadAsync(Ct))
        {
            attempts[r.GetInt32(0)] = r.GetInt64(1);
        }

        return (statuses, attempts);
    }

    private async Task<long> CountAsync(string where, string? arg)
    {
        await using var conn = await OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT count(*) FROM queries WHERE {where};", conn);
        if (arg is not null)
        {
            cmd.Parameters.AddWithValue(arg);
        }

        return (long)(await cmd.ExecuteScalarAsync(Ct))!;
    }

    private async Task<List<long>> IdsAsync(string where, string arg)
    {
        await using var conn = await OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT id FROM queries WHERE {where} ORDER BY id;", conn);
        cmd.Parameters.AddWithValue(arg);
        var ids = new List<long>();
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        while (await r.ReadAsync(Ct))
        {
            ids.Add(r.GetInt64(0));
        }

        return ids;
    }

    private async Task<NpgsqlConnection> OpenAsync()
    {
        var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_connectionString) { SearchPath = _schema }.ConnectionString);
        await conn.OpenAsync(Ct);
        return conn;
    }

    /// <summary>The counts of the worker's final "stopped: N ready, N failed, N released, N lost" log line.</summary>
    private static (long Ready, long Lost) Tally(string log)
    {
        var line = log.Split('\n').Last(l => l.Contains(" stopped: ", StringComparison.Ordinal));
        var words = line[(line.IndexOf(" stopped: ", StringComparison.Ordinal) + 10)..].Split(' ');
        return (long.Parse(words[0], CultureInfo.InvariantCulture), long.Parse(words[6], CultureInfo.InvariantCulture));
    }

    /// <summary>A worker process whose output is collected as it comes (so its pipes never fill up).</summary>
    private sealed class WorkerProcess : IDisposable
    {
        private readonly StringBuilder _log = new();

        public WorkerProcess(Process process, string workerId)
        {
            Process = process;
            WorkerId = workerId;
            process.StandardInput.Close();
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string WorkerId { get; }

        public string Log
        {
            get
            {
                lock (_log)
                {
                    return _log.ToString();
                }
            }
        }

        /// <summary>Sends SIGTERM and waits for the exit.</summary>
        public async Task<(int Exit, string Log)> StopAsync()
        {
            using (var kill = System.Diagnostics.Process.Start("kill", ["-TERM", Process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(Ct);
            }

            await Process.WaitForExitAsync(Ct);
            return (Process.ExitCode, Log);
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit(10_000);
            }

            Process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_log)
                {
                    _log.AppendLine(line);
                }
            }
        }
    }
}
