using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Notification;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Tests;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Tests;

/// <summary>A SQLite store in a temporary folder (deleted on dispose), optionally loaded with a golden dataset.</summary>
internal sealed class SqliteStoreFixture : IAsyncDisposable
{
    /// <summary>The instant the golden vectors were computed at.</summary>
    public const double VectorNow = 1_625_097_600.0;

    private readonly string _dir;

    private SqliteStoreFixture(string dir, ICybexpStore store)
    {
        _dir = dir;
        Store = store;
    }

    public ICybexpStore Store { get; }

    public string Spec => "sqlite:" + Path.Combine(_dir, "cybexp.db");

    public static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public static async Task<SqliteStoreFixture> CreateAsync(string? dataset = null, TimeProvider? time = null)
    {
        var dir = Directory.CreateTempSubdirectory("cybexp-worker-").FullName;
        var store = await StoreLocator.OpenAsync("sqlite:" + Path.Combine(dir, "cybexp.db"), time ?? TimeProvider.System, Ct);
        if (dataset is not null)
        {
            await store.Archive.WriteAsync([.. Datasets.Named(dataset).Everything], Ct);
        }

        return new SqliteStoreFixture(dir, store);
    }

    /// <summary>Starts a worker in the background; dispose the handle to stop it gracefully.</summary>
    public RunningWorker Start(WorkerOptions options, QueryDecryptor? key = null, INotifier? notifier = null, TestLogs? logs = null, ICybexpStore? through = null)
    {
        logs ??= new TestLogs();
        var worker = ReportService.CreateWorker(through ?? Store, options, key, notifier ?? new TcpNotifier(new NotifierOptions(), logs.CreateLogger<TcpNotifier>()), TimeProvider.System, logs);
        return new RunningWorker(worker, logs);
    }

    public Task<long> EnqueueAsync(string qtype, string qdata, string userId, bool encrypted = false, NotifySocket? notify = null) =>
        Store.Queries.EnqueueAsync(new QuerySubmission(qtype, qdata, encrypted, userId, null, notify), Ct);

    /// <summary>Waits for query <paramref name="id"/> to end; fails the test after 30 s.</summary>
    public async Task<QueryRecord> EndedAsync(long id)
    {
        var record = await Store.Queries.WaitForEndAsync(id, TimeSpan.FromSeconds(30), Ct);
        Assert.NotNull(record);
        Assert.True(record.Status is QueryStatus.Ready or QueryStatus.Failed, $"query {id} is still {record.Status}");
        return record;
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Left to the OS temp cleaner.
        }
    }

    /// <summary>Canonical TAHOE text of a plain JSON query (what the API stores).</summary>
    public static string Canonical(string json) => Core.Tahoe.Canonical.Of(PythonJson.Parse(json));

    public static long Long(TahoeValue v) => ((TahoeInt)v).Int64;

    public static double Number(TahoeValue v) => v is TahoeFloat f ? f.Value : ((TahoeInt)v).Int64;

    /// <summary>The report document stored with <paramref name="record"/>.</summary>
    public static TahoeDict Report(QueryRecord record) => PythonJson.Parse(record.ReportJson!).AsDict;
}

/// <summary>A worker running in the background.</summary>
internal sealed class RunningWorker : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public RunningWorker(ReportWorker worker, TestLogs logs)
    {
        Worker = worker;
        Logs = logs;
        Run = Task.Run(() => worker.RunAsync(_stop.Token));
    }

    public ReportWorker Worker { get; }

    public TestLogs Logs { get; }

    public Task Run { get; }

    /// <summary>Requests shutdown and waits for it (bounded, so a hang fails the test).</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Run.WaitAsync(TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        if (!Run.IsCompleted)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }
}
