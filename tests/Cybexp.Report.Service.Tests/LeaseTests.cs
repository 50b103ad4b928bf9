using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Tests;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Tests;

/// <summary>Leases: dead workers' queries are taken over, retries are bounded, and a worker that lost its lease writes nothing.</summary>
public sealed class LeaseTests
{
    private static readonly WorkerOptions Short = new()
    {
        FixedNow = SqliteStoreFixture.VectorNow,
        Parallelism = 2,
        Lease = TimeSpan.FromSeconds(1),
        PollInterval = TimeSpan.FromMilliseconds(200),
    };

    private static string Carol => Datasets.Named("D1_tiny").Users["carol"].Value;

    private static string Count => SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7"}""");

    private static QueryOutcome Marker(string text)
    {
        var json = "{\"marker\": \"" + text + "\"}";
        return new QueryOutcome(QueryStatus.Ready, json, InstanceHash.Of(json), null);
    }

    [Fact]
    public async Task QueryOfADeadWorker_IsClaimedAgain_AfterItsLeaseExpires()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var id = await fx.EnqueueAsync("count", Count, Carol);
        var dead = await fx.Store.Queries.ClaimNextAsync("dead-worker", TimeSpan.FromSeconds(1), SqliteStoreFixture.Ct);
        Assert.Equal(id, dead!.QueryId);

        await using var worker = fx.Start(Short);
        var record = await fx.EndedAsync(id);
        Assert.Equal(QueryStatus.Ready, record.Status);
        Assert.Equal(2, record.Attempts);
        Assert.Equal(3, SqliteStoreFixture.Long(SqliteStoreFixture.Report(record)["data"]!));

        // The dead worker's late completion is refused by the fence.
        Assert.False(await fx.Store.Queries.CompleteAsync(dead, Marker("late"), SqliteStoreFixture.Ct));
        Assert.Equal(record.ReportJson, (await fx.Store.Queries.GetAsync(id, SqliteStoreFixture.Ct))!.ReportJson);
    }

    [Fact]
    public async Task QueryWhoseWorkersKeepDying_EndsFailed_AfterMaxAttempts()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var id = await fx.EnqueueAsync("count", Count, Carol);
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var claim = await fx.Store.Queries.ClaimNextAsync("dying-" + attempt, TimeSpan.FromMilliseconds(300), SqliteStoreFixture.Ct);
            Assert.Equal(attempt, claim!.Attempt);
            await Task.Delay(450);
        }

        await using var worker = fx.Start(Short with { MaxAttempts = 2 });
        var record = await fx.EndedAsync(id);
        Assert.Equal(QueryStatus.Failed, record.Status);
        Assert.Equal("gave up after 2 attempts: the workers processing this query stopped before finishing it (last lease expired)", record.Error);
        Assert.Equal(record.Error, SqliteStoreFixture.Report(record)["data"]!.AsString);
        Assert.Equal(3, record.Attempts);
    }

    [Fact]
    public async Task WorkerThatLostItsLeaseBeforeCompleting_WritesNothing()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var scripted = new ScriptedStore(fx.Store) { HoldCompletions = true };
        var id = await fx.EnqueueAsync("count", Count, Carol);
        await using var worker = fx.Start(Short with { Parallelism = 1 }, through: scripted);

        // The worker computed the report and stalls before storing it; meanwhile its lease expires and a thief takes over.
        await WaitForAsync(() => fx.Store.Queries.GetAsync(id, SqliteStoreFixture.Ct).Result!.Status == QueryStatus.Processing);
        var thief = await ClaimWhenExpiredAsync(fx.Store);
        Assert.Equal(id, thief.QueryId);
        Assert.True(await fx.Store.Queries.CompleteAsync(thief, Marker("thief"), SqliteStoreFixture.Ct));
        scripted.CompleteGate.SetResult();

        await WaitForAsync(() => worker.Worker.Counters.LeaseLost == 1);
        var record = (await fx.Store.Queries.GetAsync(id, SqliteStoreFixture.Ct))!;
        Assert.Equal("{\"marker\": \"thief\"}", record.ReportJson);
        Assert.Equal(0, worker.Worker.Counters.Ready);
        Assert.True(worker.Logs.Contains(LogLevel.Warning, "lease lost"), worker.Logs.Dump());
    }

    [Fact]
    public async Task WorkerWhoseRenewalFindsTheLeaseTaken_AbandonsTheComputation_AndWritesNothing()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var scripted = new ScriptedStore(fx.Store) { HoldRenewals = true, HangNextUserLookup = true };
        var id = await fx.EnqueueAsync("count", Count, Carol);
        await using var worker = fx.Start(Short with { Parallelism = 1 }, through: scripted);
        await scripted.UserLookupHanging.Task.WaitAsync(TimeSpan.FromSeconds(20));

        // Renewals do not get through (a slow network); the lease expires and a thief takes over and completes.
        var thief = await ClaimWhenExpiredAsync(fx.Store);
        Assert.Equal(id, thief.QueryId);
        Assert.True(await fx.Store.Queries.CompleteAsync(thief, Marker("thief"), SqliteStoreFixture.Ct));
        scripted.RenewGate.SetResult();

        await WaitForAsync(() => worker.Worker.Counters.LeaseLost == 1);
        Assert.Equal("{\"marker\": \"thief\"}", (await fx.Store.Queries.GetAsync(id, SqliteStoreFixture.Ct))!.ReportJson);
        Assert.Equal(new WorkerCounters(0, 0, 1, 0), worker.Worker.Counters);
    }

    [Fact]
    public async Task StoreThatGoesAwayAndComesBack_LosesNoQuery()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var scripted = new ScriptedStore(fx.Store) { Down = true };
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await fx.EnqueueAsync("count", Count, Carol));
        }

        await using var worker = fx.Start(Short with { MaxBackoff = TimeSpan.FromMilliseconds(300) }, through: scripted);
        await WaitForAsync(() => worker.Logs.Contains(LogLevel.Error, "scripted outage"));
        Assert.False(worker.Run.IsCompleted);
        scripted.Down = false;
        foreach (var id in ids)
        {
            Assert.Equal(QueryStatus.Ready, (await fx.EndedAsync(id)).Status);
        }
    }

    private static async Task<QueryClaim> ClaimWhenExpiredAsync(ICybexpStore store)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            if (await store.Queries.ClaimNextAsync("thief", TimeSpan.FromMinutes(5), SqliteStoreFixture.Ct) is { } claim)
            {
                return claim;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the worker's lease never expired");
            await Task.Delay(100);
        }
    }

    internal static async Task WaitForAsync(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "condition not met within 20 s");
            await Task.Delay(20);
        }
    }
}
