using Cybexp.Report.Core.Storage;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Tests;

namespace Cybexp.Report.Service.Tests;

/// <summary>Graceful shutdown: no new claims, in-flight queries finish within the deadline, the rest go back to the queue.</summary>
public sealed class ShutdownTests
{
    private static readonly WorkerOptions Options = new()
    {
        FixedNow = SqliteStoreFixture.VectorNow,
        Parallelism = 4,
        PollInterval = TimeSpan.FromMilliseconds(500),
        ShutdownDeadline = TimeSpan.FromMilliseconds(500),
    };

    private static string Carol => Datasets.Named("D1_tiny").Users["carol"].Value;

    private static string Count => SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7"}""");

    [Fact]
    public async Task StopWhileQueriesAreInFlight_LeavesNoneProcessing()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var scripted = new ScriptedStore(fx.Store) { HangNextUserLookup = true };
        var hung = await fx.EnqueueAsync("count", Count, Carol);
        const int n = 300;
        for (var i = 0; i < n; i++)
        {
            await fx.EnqueueAsync("count", Count, Carol);
        }

        var worker = fx.Start(Options, through: scripted);
        await scripted.UserLookupHanging.Task.WaitAsync(TimeSpan.FromSeconds(20));
        await LeaseTests.WaitForAsync(() => worker.Worker.Counters.Ready >= 20);
        await worker.StopAsync();

        var counts = await fx.Store.Queries.CountByStatusAsync(SqliteStoreFixture.Ct);
        Assert.False(counts.ContainsKey(QueryStatus.Processing), string.Join(", ", counts));
        Assert.Equal(n + 1, counts.Values.Sum());
        // The query whose lookup hung was released (not failed; below, its attempt is not counted). The last completions
        // may have claimed a few more with them, which are released too without being started (see
        // StopUnderLoad_GivesBackTheQueriesClaimedWithTheLastCompletions), so at least one is released.
        Assert.True(worker.Worker.Counters.Released >= 1, $"{worker.Worker.Counters.Released} released");
        Assert.Equal(counts.GetValueOrDefault(QueryStatus.Ready), worker.Worker.Counters.Ready);
        Assert.Equal(0, worker.Worker.Counters.Failed);

        // Another worker picks up everything that was left.
        await using var next = fx.Start(Options);
        for (var id = hung; id <= hung + n; id++)
        {
            var record = await fx.EndedAsync(id);
            Assert.Equal(QueryStatus.Ready, record.Status);
            Assert.Equal(1, record.Attempts);
        }
    }

    [Fact]
    public async Task StopUnderLoad_GivesBackTheQueriesClaimedWithTheLastCompletions()
    {
        // With a deep queue every completion also claims the next queries; those claimed by the completions still in
        // flight when the worker stops are never started, and must not stay 'processing' until their leases expire.
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        const int n = 400;
        var first = await fx.EnqueueAsync("count", Count, Carol);
        for (var i = 1; i < n; i++)
        {
            await fx.EnqueueAsync("count", Count, Carol);
        }

        var worker = fx.Start(Options with { Lease = TimeSpan.FromMinutes(10) });
        await LeaseTests.WaitForAsync(() => worker.Worker.Counters.Ready >= 50);
        await worker.StopAsync();

        var counts = await fx.Store.Queries.CountByStatusAsync(SqliteStoreFixture.Ct);
        Assert.False(counts.ContainsKey(QueryStatus.Processing), string.Join(", ", counts));
        Assert.Equal(n, counts.Values.Sum());
        Assert.Equal(counts.GetValueOrDefault(QueryStatus.Ready), worker.Worker.Counters.Ready);
        Assert.Equal((0L, 0L), (worker.Worker.Counters.Failed, worker.Worker.Counters.LeaseLost));

        // Every query is processed exactly once: what the first worker gave back never counted an attempt.
        await using var next = fx.Start(Options);
        for (var id = first; id < first + n; id++)
        {
            var record = await fx.EndedAsync(id);
            Assert.Equal((QueryStatus.Ready, 1), (record.Status, record.Attempts));
        }
    }

    [Fact]
    public async Task StopWhileAReportIsBeingStored_FinishesIt_WithinTheDeadline()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var scripted = new ScriptedStore(fx.Store) { HoldCompletions = true };
        var id = await fx.EnqueueAsync("count", Count, Carol);
        var worker = fx.Start(Options with { ShutdownDeadline = TimeSpan.FromSeconds(10) }, through: scripted);
        await LeaseTests.WaitForAsync(() => fx.Store.Queries.GetAsync(id, SqliteStoreFixture.Ct).Result!.Status == QueryStatus.Processing);

        var stopping = worker.StopAsync();
        await Task.Delay(300);
        Assert.False(stopping.IsCompleted, "the worker stopped before its in-flight query finished");
        scripted.CompleteGate.SetResult();
        await stopping;
        Assert.Equal(QueryStatus.Ready, (await fx.Store.Queries.GetAsync(id, SqliteStoreFixture.Ct))!.Status);
    }

    [Fact]
    public async Task IdleWorker_StopsPromptly()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync();
        var worker = fx.Start(Options with { PollInterval = TimeSpan.FromMinutes(10) });
        await Task.Delay(200);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await worker.StopAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
    }
}
