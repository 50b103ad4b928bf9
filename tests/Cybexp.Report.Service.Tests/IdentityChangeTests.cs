using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Notification;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Postgres;
using Cybexp.Report.Storage.Tests;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Cybexp.Report.Service.Tests;

/// <summary>
/// A running worker keeps users' access between queries; a change of membership must still be seen by the very next
/// query, on both stores: joining an org shows its events at once, leaving it hides them at once.
/// </summary>
public sealed class IdentityChangeTests
{
    private const double Now = SqliteStoreFixture.VectorNow;

    private static readonly WorkerOptions Options = new() { FixedNow = Now, Parallelism = 4, PollInterval = TimeSpan.FromSeconds(1) };

    [Fact]
    public async Task MembershipChange_IsSeenByTheNextQuery_OnSqlite()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync();
        await MembershipChangeIsSeenByTheNextQueryAsync(fx.Store);
    }

    [Fact]
    public async Task MembershipChange_IsSeenByTheNextQuery_OnPostgres()
    {
        var connectionString = (await PostgresServer.GetAsync()).ConnectionString;
        var schema = "t_" + Guid.NewGuid().ToString("N");
        try
        {
            await using var store = await PostgresStore.OpenAsync(connectionString, TimeProvider.System, SqliteStoreFixture.Ct, schema);
            await MembershipChangeIsSeenByTheNextQueryAsync(store);
        }
        finally
        {
            await using var conn = new NpgsqlConnection(connectionString);
            await conn.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE;", conn);
            await drop.ExecuteNonQueryAsync();
        }
    }

    private static async Task MembershipChangeIsSeenByTheNextQueryAsync(ICybexpStore store)
    {
        var alice = TahoeUser.Create("alice@change.example", "pw", "Alice");
        var bob = TahoeUser.Create("bob@change.example", "pw", "Bob");
        var red = TahoeOrg.Create("red", [alice], [alice], "Red");
        var blue = TahoeOrg.Create("blue", [bob], [bob], "Blue");
        var ip = TahoeAttribute.Create("ipv4", "192.0.2.44");
        var events = new List<TahoeInstance> { ip };
        for (var i = 0; i < 4; i++)
        {
            // One event of red, three of blue.
            events.Add(TahoeEvent.Create("file_download", [ip], (i == 0 ? red : blue).Hash.Value, Now - 3600 - i));
        }

        await WriteAsync(store, [.. alice.Descendants, alice, .. bob.Descendants, bob, .. red.Descendants, red, .. blue.Descendants, blue, .. events]);
        var logs = new TestLogs();
        var worker = ReportService.CreateWorker(store, Options, null, new TcpNotifier(new NotifierOptions(), logs.CreateLogger<TcpNotifier>()), TimeProvider.System, logs);
        await using var running = new RunningWorker(worker, logs);

        // Several queries per state, so that later ones may be answered from the worker's cache.
        Assert.Equal(new long[] { 1, 1, 1 }, await CountsAsync(store, alice, 3));
        await WriteAsync(store, [TahoeOrg.Create("blue", [alice, bob], [bob], "Blue")]);
        Assert.Equal(new long[] { 4, 4, 4 }, await CountsAsync(store, alice, 3));
        await WriteAsync(store, [TahoeOrg.Create("red", [bob], [bob], "Red")]);
        Assert.Equal(new long[] { 3, 3, 3 }, await CountsAsync(store, alice, 3));
        await WriteAsync(store, [TahoeOrg.Create("blue", [bob], [bob], "Blue")]);
        Assert.Equal(new long[] { 0, 0 }, await CountsAsync(store, alice, 2));
        // The worker counts a report after its store call returns, which may be just after the waiter saw it end.
        await LeaseTests.WaitForAsync(() => worker.Counters.Ready >= 11);
        Assert.Equal(11, worker.Counters.Ready);
    }

    /// <summary>Runs <paramref name="n"/> count queries of <paramref name="user"/> one after the other.</summary>
    private static async Task<long[]> CountsAsync(ICybexpStore store, TahoeUser user, int n)
    {
        var qdata = SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "192.0.2.44"}""");
        var counts = new long[n];
        for (var i = 0; i < n; i++)
        {
            var id = await store.Queries.EnqueueAsync(new QuerySubmission("count", qdata, false, user.Hash.Value, null, null), SqliteStoreFixture.Ct);
            var record = await store.Queries.WaitForEndAsync(id, TimeSpan.FromSeconds(30), SqliteStoreFixture.Ct);
            Assert.True(record?.Status == QueryStatus.Ready, $"query {id}: {record?.Status} {record?.Error}");
            counts[i] = SqliteStoreFixture.Long(SqliteStoreFixture.Report(record!)["data"]!);
        }

        return counts;
    }

    private static async Task WriteAsync(ICybexpStore store, IEnumerable<TahoeInstance> instances)
    {
        var docs = new List<ArchiveDocument>();
        foreach (var instance in instances)
        {
            Assert.True(ArchiveDocument.TryCreate(instance.Document, out var doc, out var error), error);
            docs.Add(doc!);
        }

        await store.Archive.WriteAsync(docs, SqliteStoreFixture.Ct);
    }
}
