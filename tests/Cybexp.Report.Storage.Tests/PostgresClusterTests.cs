using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Storage.Postgres;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// What only the cluster store promises: several store instances (standing in for processes on several machines) on one
/// database claim each query once, wake each other through LISTEN/NOTIFY, migrate once, and report an unreachable
/// server clearly.
/// </summary>
public sealed class PostgresClusterTests : IAsyncLifetime
{
    private readonly PostgresSchemas _schemas = new();

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _schemas.DropAllAsync();

    private static QuerySubmission Count(string user) => new("count", "{\"sub_type\": \"ipv4\", \"data\": \"1.1.1.1\"}", false, user, "qh", null);

    private static QueryOutcome Ready(long id)
    {
        var json = "{\"id\":" + id + "}";
        return new QueryOutcome(QueryStatus.Ready, json, InstanceHash.Of(json), null);
    }

    [Fact]
    public async Task TwoProcesses_ClaimingConcurrently_TakeEveryQueryExactlyOnce()
    {
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        const int n = 500;
        for (var i = 0; i < n; i++)
        {
            await (i % 2 == 0 ? a : b).Queries.EnqueueAsync(Count("u" + i), Ct);
        }

        var claims = new ConcurrentBag<(string Store, long Id)>();
        var workers = new[] { ("a", a), ("b", b) }.SelectMany(s => Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            while (await s.Item2.Queries.ClaimNextAsync(s.Item1 + w, TimeSpan.FromMinutes(5), Ct) is { } claim)
            {
                claims.Add((s.Item1, claim.QueryId));
                Assert.True(await s.Item2.Queries.CompleteAsync(claim, Ready(claim.QueryId), Ct));
            }
        }))).ToArray();
        await Task.WhenAll(workers);

        Assert.Equal(n, claims.Count);
        Assert.Equal(n, claims.Select(c => c.Id).Distinct().Count());
        Assert.Contains(claims, c => c.Store == "a");
        Assert.Contains(claims, c => c.Store == "b");
        Assert.Equal(n, (await a.Queries.CountByStatusAsync(Ct))[QueryStatus.Ready]);
        foreach (var (_, id) in claims)
        {
            Assert.Equal(1, (await b.Queries.GetAsync(id, Ct))!.Attempts);
        }
    }

    [Fact]
    public async Task WaitForWork_WakesWithinASecond_WhenAnotherProcessEnqueues()
    {
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);

        // The first wait starts a's listener and returns once it listens (anything sent before was missed).
        await a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(10), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var waiting = a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(300, Ct);
        Assert.False(waiting.IsCompleted, "nothing was enqueued, yet the waiter woke");
        var clock = Stopwatch.StartNew();
        await b.Queries.EnqueueAsync(Count("u"), Ct);
        await waiting.WaitAsync(TimeSpan.FromSeconds(1.5), Ct);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1.5), $"woke after {clock.Elapsed}");
    }

    [Fact]
    public async Task WaitForWork_ReturnsAtOnce_WhenAnotherProcessEnqueuedBeforeTheWaitBegan()
    {
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(10), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // As a worker does: the count is read before a claim that finds nothing, and b's enqueue is heard before a
        // starts to wait.
        var seen = a.Queries.WorkSignals;
        Assert.Empty(await a.Queries.ClaimManyAsync("w", TimeSpan.FromMinutes(1), 8, Ct));
        await b.Queries.EnqueueAsync(Count("u"), Ct);
        await SignalledAsync(a, seen);

        await a.Queries.WaitForWorkAsync(seen, TimeSpan.FromMinutes(1), Ct).WaitAsync(TimeSpan.FromSeconds(1), Ct);
        Assert.Single(await a.Queries.ClaimManyAsync("w", TimeSpan.FromMinutes(1), 8, Ct));
    }

    [Fact]
    public async Task Listener_StopsHearingWork_WhileNoWorkerWaits_AndMissesNothingWhenOneWaitsAgain()
    {
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(10), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // a is busy (nobody in a waits) for longer than the listener allows; the next work notification is the last
        // one a hears.
        await Task.Delay(ListenerDropsWorkAfter + TimeSpan.FromMilliseconds(300), Ct);
        var before = a.Queries.WorkSignals;
        await b.Queries.EnqueueAsync(Count("u"), Ct);
        await SignalledAsync(a, before);
        await Task.Delay(300, Ct);
        var deaf = a.Queries.WorkSignals;
        for (var i = 0; i < 3; i++)
        {
            await b.Queries.EnqueueAsync(Count("u"), Ct);
        }

        await Task.Delay(500, Ct);
        Assert.Equal(deaf, a.Queries.WorkSignals);

        // A worker of a waits again: the work channel comes back, and the LISTEN wakes it once for what it missed ...
        await a.Queries.WaitForWorkAsync(deaf, TimeSpan.FromMinutes(1), Ct).WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal(4, (await a.Queries.ClaimManyAsync("w", TimeSpan.FromMinutes(1), 8, Ct)).Count);

        // ... and it hears the other process again while it waits.
        var waiting = a.Queries.WaitForWorkAsync(TimeSpan.FromMinutes(1), Ct);
        await Task.Delay(300, Ct);
        Assert.False(waiting.IsCompleted, "nothing was enqueued since, yet the waiter woke");
        await b.Queries.EnqueueAsync(Count("u"), Ct);
        await waiting.WaitAsync(TimeSpan.FromSeconds(1.5), Ct);
    }

    /// <summary>PostgresListener.DropWorkAfter: how long a process may have no worker waiting before it stops hearing work.</summary>
    private static readonly TimeSpan ListenerDropsWorkAfter = TimeSpan.FromSeconds(1);

    private static async Task SignalledAsync(ICybexpStore store, long seen)
    {
        var clock = Stopwatch.StartNew();
        while (store.Queries.WorkSignals == seen)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the enqueue was never heard");
            await Task.Delay(10, Ct);
        }
    }

    [Fact]
    public async Task WaitForEnd_WakesWhenAnotherProcessCompletes_WithoutPolling()
    {
        // a's clock never moves, so its 250 ms re-check never fires: only b's notification can end the wait.
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_625_097_600)), Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        var id = await b.Queries.EnqueueAsync(Count("u"), Ct);
        var claim = (await b.Queries.ClaimNextAsync("w", TimeSpan.FromMinutes(1), Ct))!;
        var waiting = a.Queries.WaitForEndAsync(id, TimeSpan.FromMinutes(1), Ct);
        await Task.Delay(500, Ct);
        Assert.False(waiting.IsCompleted);
        Assert.True(await b.Queries.CompleteAsync(claim, Ready(id), Ct));
        var ended = await waiting.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal(QueryStatus.Ready, ended!.Status);
    }

    [Fact]
    public async Task Completion_NotifiesTheEndChannel_OnlyForAQuerySomeoneWaitsFor()
    {
        // Every NOTIFY signals each listening backend of the database, so a completion nobody waits for sends none.
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_625_097_600)), Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var listener = await PostgresSchemas.ConnectAsync(Ct);
        var heard = new ConcurrentQueue<string>();
        listener.Notification += (_, e) => heard.Enqueue(e.Channel);
        await using (var listen = new NpgsqlCommand($"LISTEN \"cybexp_end_{schema}\";", listener))
        {
            await listen.ExecuteNonQueryAsync(Ct);
        }

        var unwatched = await b.Queries.EnqueueAsync(Count("u"), Ct);
        var claim = (await b.Queries.ClaimNextAsync("w", TimeSpan.FromMinutes(1), Ct))!;
        Assert.True(await b.Queries.CompleteAsync(claim, Ready(unwatched), Ct));
        Assert.False(await listener.WaitAsync(TimeSpan.FromMilliseconds(500), Ct), "a completion nobody waited for notified");
        Assert.Empty(heard);

        var watched = await b.Queries.EnqueueAsync(Count("u"), Ct);
        claim = (await b.Queries.ClaimNextAsync("w", TimeSpan.FromMinutes(1), Ct))!;
        var waiting = a.Queries.WaitForEndAsync(watched, TimeSpan.FromMinutes(1), Ct);
        await Task.Delay(500, Ct);
        Assert.False(waiting.IsCompleted);
        Assert.True(await b.Queries.CompleteAsync(claim, Ready(watched), Ct));
        Assert.True(await listener.WaitAsync(TimeSpan.FromSeconds(5), Ct), "the completion of a query someone waits for did not notify");
        Assert.Equal(QueryStatus.Ready, (await waiting.WaitAsync(TimeSpan.FromSeconds(5), Ct))!.Status);
    }

    [Fact]
    public async Task WaitForEnd_OfAWaitingQuery_WakesIdleWorkers()
    {
        // Flagging a waiting query as waited for locks its row for a moment, so a claim running then passes over it:
        // the flag therefore notifies the work channel, and an idle worker does not sleep until its next poll. The
        // worker's clock (a) never moves, so only a notification ends its wait.
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_625_097_600)), Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(10), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var id = await b.Queries.EnqueueAsync(Count("u"), Ct);
        await Task.Delay(500, Ct);

        var working = a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(300, Ct);
        Assert.False(working.IsCompleted, "nothing was enqueued since, yet the waiter woke");
        var ending = b.Queries.WaitForEndAsync(id, TimeSpan.FromSeconds(2), Ct);
        await working.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal(QueryStatus.Wait, (await ending)!.Status);
    }

    [Fact]
    public async Task WaitForEnd_OfAFinishedQuery_ReturnsItAtOnce_WithoutMarkingIt()
    {
        var schema = _schemas.NewName();
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        var id = await b.Queries.EnqueueAsync(Count("u"), Ct);
        var claim = (await b.Queries.ClaimNextAsync("w", TimeSpan.FromMinutes(1), Ct))!;
        Assert.True(await b.Queries.CompleteAsync(claim, Ready(id), Ct));
        var clock = Stopwatch.StartNew();
        Assert.Equal(QueryStatus.Ready, (await b.Queries.WaitForEndAsync(id, TimeSpan.FromSeconds(30), Ct))!.Status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using var cmd = new NpgsqlCommand($"SELECT end_waited FROM \"{schema}\".queries WHERE id = $1;", conn);
        cmd.Parameters.AddWithValue(id);
        Assert.False((bool)(await cmd.ExecuteScalarAsync(Ct))!);
        Assert.Null(await b.Queries.WaitForEndAsync(id + 1000, TimeSpan.FromSeconds(30), Ct));
    }

    [Fact]
    public async Task Listener_OfAWorker_AddsTheEndChannel_WhenSomeoneWaitsForAnEnd_AndKeepsHearingWork()
    {
        // a's clock never moves: no poll interval or re-check fires, so only notifications end its waits. A worker
        // process listens on the work channel only; the first wait for an end must add the end channel.
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_625_097_600)), Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(10), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var id = await b.Queries.EnqueueAsync(Count("u"), Ct);
        var claim = (await b.Queries.ClaimNextAsync("w", TimeSpan.FromMinutes(1), Ct))!;
        var ending = a.Queries.WaitForEndAsync(id, TimeSpan.FromMinutes(1), Ct);
        await Task.Delay(500, Ct);
        Assert.False(ending.IsCompleted);
        Assert.True(await b.Queries.CompleteAsync(claim, Ready(id), Ct));
        Assert.Equal(QueryStatus.Ready, (await ending.WaitAsync(TimeSpan.FromSeconds(5), Ct))!.Status);

        var working = a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(300, Ct);
        Assert.False(working.IsCompleted, "nothing was enqueued, yet the waiter woke");
        await b.Queries.EnqueueAsync(Count("u"), Ct);
        await working.WaitAsync(TimeSpan.FromSeconds(5), Ct);
    }

    [Fact]
    public async Task Listener_Reconnects_AfterItsConnectionIsKilled()
    {
        var schema = _schemas.NewName();
        var app = "cybexp-listener-" + schema;
        await using var a = await _schemas.OpenAsync(TimeProvider.System, Ct, schema, applicationName: app);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(10), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // Kill every session of a (its listener included), as a server restart or a network cut would.
        var waiting = a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(30), Ct);
        await using (var admin = await PostgresSchemas.ConnectAsync(Ct))
        await using (var kill = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1;", admin))
        {
            kill.Parameters.AddWithValue(app);
            Assert.True((long)(await kill.ExecuteScalarAsync(Ct))! >= 1);
        }

        // The reconnected listener wakes its waiters once (notifications may have been missed) ...
        await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // ... and hears the other process again.
        var next = a.Queries.WaitForWorkAsync(TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(300, Ct);
        Assert.False(next.IsCompleted);
        await b.Queries.EnqueueAsync(Count("u"), Ct);
        await next.WaitAsync(TimeSpan.FromSeconds(1.5), Ct);
    }

    [Fact]
    public async Task Operations_OnAKilledConnection_FailAsStoreUnavailable_ThenRecover()
    {
        var schema = _schemas.NewName();
        var app = "cybexp-killed-" + schema;
        await using var a = await _schemas.OpenAsync(TimeProvider.System, Ct, schema, applicationName: app);
        Assert.True(await a.PingAsync(Ct));
        await using (var admin = await PostgresSchemas.ConnectAsync(Ct))
        await using (var kill = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1;", admin))
        {
            kill.Parameters.AddWithValue(app);
            await kill.ExecuteScalarAsync(Ct);
        }

        // The pooled connection is dead; the first use finds out and says so, naming the store.
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => a.Queries.CountByStatusAsync(Ct));
        Assert.Contains(a.Description["postgres:".Length..], error.Message, StringComparison.Ordinal);

        // A new connection works again.
        Assert.Empty(await a.Queries.CountByStatusAsync(Ct));
    }

    [Fact]
    public async Task Open_WhereNothingListens_ThrowsStoreUnavailable_NamingHostAndDatabase_NotThePassword()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var cs = $"Host=127.0.0.1;Port={port};Database=nowhere;Username=cybexp;Password=secret-pw-123;Timeout=5";
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => PostgresStore.OpenAsync(cs, TimeProvider.System, Ct));
        Assert.Contains("Host=127.0.0.1", error.Message, StringComparison.Ordinal);
        Assert.Contains("Port=" + port, error.Message, StringComparison.Ordinal);
        Assert.Contains("Database=nowhere", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-pw-123", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_WithAWrongPassword_ThrowsStoreUnavailable()
    {
        var server = await PostgresServer.GetAsync();
        var cs = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Password = "not-the-password" };
        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => PostgresStore.OpenAsync(cs.ConnectionString, TimeProvider.System, Ct, _schemas.NewName()));
        Assert.DoesNotContain("not-the-password", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrations_StartedConcurrently_AreAppliedOnce()
    {
        var schema = _schemas.NewName();
        var stores = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => _schemas.OpenAsync(TimeProvider.System, Ct, schema)));
        await using var again = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        foreach (var s in stores)
        {
            await s.DisposeAsync();
        }

        var scripts = MigrationScripts.Load(typeof(PostgresStore).Assembly, "Cybexp.Report.Storage.Postgres.Migrations.");
        Assert.NotEmpty(scripts);
        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using var cmd = new NpgsqlCommand($"SELECT count(*), count(DISTINCT version), max(version) FROM \"{schema}\".schema_migrations;", conn);
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        Assert.True(await r.ReadAsync(Ct));
        Assert.Equal(scripts.Count, r.GetInt64(0));
        Assert.Equal(scripts.Count, r.GetInt64(1));
        Assert.Equal(scripts[^1].Version, r.GetInt32(2));
        Assert.True(await again.PingAsync(Ct));
        Assert.Equal(0, await again.Archive.VersionAsync(Ct));
    }

    [Fact]
    public async Task ConcurrentWriters_OfOverlappingBatches_StoreEachDocumentOnce()
    {
        // Two processes ingest the same documents in opposite orders and small batches: shared documents must neither
        // deadlock the writers nor be stored twice.
        var ds = Datasets.Named("D3_medium");
        var docs = ds.Everything.ToList();
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);

        async Task<WriteSummary> IngestAsync(ICybexpStore store, IReadOnlyList<ArchiveDocument> order)
        {
            int inserted = 0, duplicates = 0, updated = 0;
            foreach (var chunk in order.Chunk(7))
            {
                var s = await store.Archive.WriteAsync(chunk, Ct);
                inserted += s.Inserted;
                duplicates += s.Duplicates;
                updated += s.Updated;
            }

            return new WriteSummary(inserted, duplicates, updated);
        }

        var results = await Task.WhenAll(
            Task.Run(() => IngestAsync(a, docs)),
            Task.Run(() => IngestAsync(b, Enumerable.Reverse(docs).ToList())));

        Assert.Equal(docs.Count, results[0].Inserted + results[1].Inserted);
        Assert.All(results, r => Assert.Equal(docs.Count, r.Inserted + r.Duplicates));
        Assert.All(results, r => Assert.Equal(0, r.Updated));
        Assert.Equal(docs.Count, (await a.Archive.CountByItypeAsync(Ct)).Values.Sum());
        Assert.Equal(0, await b.Archive.CountDanglingReferencesAsync(Ct));
        var user = ds.Users.Values.First();
        var vis = await a.Identity.VisibilityOfAsync(user, Ct);
        var attr = ds.Events.SelectMany(e => e.Ref).GroupBy(h => h).OrderByDescending(g => g.Count()).First().Key;
        Assert.Equal(ds.ReferenceCount(attr, EventFilter.Everything, vis), await b.Archive.CountEventsAsync(attr, EventFilter.Everything, vis, Ct));
    }

    [Fact]
    public async Task Write_OfADocumentAnotherWriterStoresMeanwhile_CountsItAsStored()
    {
        // The writer finds which documents are stored, then copies the others straight into instances. One stored by
        // another writer in between makes the copy wait for that writer and then fail on the primary key: the batch
        // must take the general path in the same transaction and count the document as stored.
        var ds = Datasets.Named("D1_tiny");
        var attribute = ds.Everything.First(d => d.Itype == "attribute");
        var ev = ds.Events.First(e => e.Ref.Length > 0);
        var schema = _schemas.NewName();
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var other = await PostgresSchemas.ConnectAsync(Ct);
        await using var otherTx = await other.BeginTransactionAsync(Ct);
        await using (var insert = new NpgsqlCommand($"INSERT INTO \"{schema}\".instances (hash, itype, sub_type, doc) VALUES ($1, $2, $3, $4);", other, otherTx))
        {
            insert.Parameters.AddWithValue(attribute.Hash.ToBytes());
            insert.Parameters.AddWithValue(attribute.Itype);
            insert.Parameters.AddWithValue(attribute.SubType);
            insert.Parameters.AddWithValue(PackedDocumentText.Pack(attribute.StoredText));
            await insert.ExecuteNonQueryAsync(Ct);
        }

        var writing = store.Archive.WriteAsync([ev, attribute], Ct);
        await using (var watch = await PostgresSchemas.ConnectAsync(Ct))
        {
            var blocked = Stopwatch.StartNew();
            while (!writing.IsCompleted && blocked.Elapsed < TimeSpan.FromSeconds(30))
            {
                await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid));", watch);
                cmd.Parameters.AddWithValue(other.ProcessID);
                if ((long)(await cmd.ExecuteScalarAsync(Ct))! > 0)
                {
                    break;
                }

                await Task.Delay(20, Ct);
            }

            Assert.False(writing.IsCompleted, "the writer did not wait for the other transaction's row");
        }

        await otherTx.CommitAsync(Ct);
        Assert.Equal(new WriteSummary(1, 1, 0), await writing);
        Assert.Equal(new WriteSummary(0, 2, 0), await store.Archive.WriteAsync([attribute, ev], Ct));

        // A batch after one that found nothing stored is copied without asking first: a stored document among it makes
        // the COPY fail, and the batch takes the general path.
        var more = ds.Everything.Where(d => d.Itype == "attribute" && d.Hash != attribute.Hash).Take(2).ToList();
        Assert.Equal(new WriteSummary(1, 0, 0), await store.Archive.WriteAsync([more[0]], Ct));
        Assert.Equal(new WriteSummary(1, 0, 0), await store.Archive.WriteAsync([more[1]], Ct));
        Assert.Equal(new WriteSummary(0, 1, 0), await store.Archive.WriteAsync([attribute], Ct));
        Assert.Equal(4, (await store.Archive.CountByItypeAsync(Ct)).Values.Sum());
        var vis = new Visibility([ev.OrgId!]);
        Assert.Equal(1, await store.Archive.CountEventsAsync(ev.Ref[0], EventFilter.Everything, vis, Ct));
        // First-stored order: the other writer drew the attribute's seq first.
        Assert.Equal([attribute.StoredText, ev.StoredText], (await store.Archive.GetDocumentsAsync([ev.Hash, attribute.Hash], Ct)).Select(d => d.StoredText));
    }

    [Fact]
    public async Task Write_CountsEveryVersionOfAHash_WithinOneBatch_AsIfWrittenOneByOne()
    {
        var ds = Datasets.Named("D1_tiny");
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct);
        var ev = ds.Events.First(e => e.Category != "malicious");
        Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String("malicious")), out var edited, out var error), error);

        // new: insert, duplicate, update, duplicate, update back.
        Assert.Equal(new WriteSummary(1, 2, 2), await store.Archive.WriteAsync([ev, ev, edited!, edited!, ev], Ct));
        Assert.Equal(ev.Category, Assert.Single(await store.Archive.GetDocumentsAsync([ev.Hash], Ct)).Category);

        // stored: update, duplicate; the index follows the stored content.
        var vis = new Visibility([ev.OrgId!]);
        var malicious = new EventFilter(0, 0, "malicious", EventContext.All);
        Assert.Equal(0, await store.Archive.CountEventsAsync(ev.Ref[0], malicious, vis, Ct));
        Assert.Equal(new WriteSummary(0, 1, 1), await store.Archive.WriteAsync([edited!, edited!], Ct));
        Assert.Equal(1, await store.Archive.CountEventsAsync(ev.Ref[0], malicious, vis, Ct));
    }

    [Fact]
    public async Task Open_WithoutASchema_UsesTheConnectionsSearchPath()
    {
        var schema = _schemas.NewName();
        await using (var conn = await PostgresSchemas.ConnectAsync(Ct))
        await using (var create = new NpgsqlCommand($"CREATE SCHEMA \"{schema}\";", conn))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        var server = await PostgresServer.GetAsync();
        var cs = new NpgsqlConnectionStringBuilder(server.ConnectionString) { SearchPath = schema };
        await using var plain = await PostgresStore.OpenAsync(cs.ConnectionString, TimeProvider.System, Ct);
        Assert.Null(plain.Schema);
        var id = await plain.Queries.EnqueueAsync(Count("u"), Ct);

        // The same tables, seen through a store opened on the schema by name.
        await using var named = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        Assert.Equal(QueryStatus.Wait, (await named.Queries.GetAsync(id, Ct))!.Status);
    }

    [Fact]
    public async Task Description_NamesHostAndDatabase_WithoutThePassword()
    {
        var server = await PostgresServer.GetAsync();
        var cs = new NpgsqlConnectionStringBuilder(server.ConnectionString);
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct);
        Assert.StartsWith("postgres:Host=" + cs.Host, store.Description, StringComparison.Ordinal);
        Assert.Contains("Database=" + cs.Database, store.Description, StringComparison.Ordinal);
        Assert.Contains("Schema=" + store.Schema, store.Description, StringComparison.Ordinal);
        if (!string.IsNullOrEmpty(cs.Password))
        {
            Assert.DoesNotContain(cs.Password, store.Description, StringComparison.Ordinal);
        }
    }
}
