using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Storage.Sqlite;

namespace Cybexp.Report.Storage.Tests;

/// <summary>The store contract against a real SQLite file per test.</summary>
public sealed class SqliteStoreContractTests : StoreContractTests, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-sqlite-").FullName;

    protected override async Task<ICybexpStore> NewStoreAsync() =>
        await SqliteStore.OpenAsync(Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db"), Time, Ct);

    protected override async Task<(ICybexpStore First, ICybexpStore Second)> NewStoreTwiceAsync()
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db");
        return (await SqliteStore.OpenAsync(path, Time, Ct), await SqliteStore.OpenAsync(path, Time, Ct));
    }

    /// <summary>
    /// The SQLite writer collects a transaction's reference rows until commit; an event written twice in one
    /// transaction (a direct caller may do that; the ingest commits first) keeps only its later rows.
    /// </summary>
    [Fact]
    public async Task WriteTransaction_SameEventTwiceInOneTransaction_KeepsTheLaterContentsRowsOnly()
    {
        var ds = Datasets.Named("D1_tiny");
        var all = ds.Everything.ToList();
        var ev = ds.Events.First(e => e.Category != "malicious");
        Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String("malicious")), out var edited, out var error), error);
        await using var store = await NewStoreAsync();
        WriteSummary summary;
        await using (var write = await store.Archive.BeginWriteAsync(Ct))
        {
            await write.AddAsync(all, Ct);
            await write.AddAsync([edited!], Ct);
            summary = await write.CommitAsync(Ct);
        }

        Assert.Equal(new WriteSummary(all.Count, 0, 1), summary);
        var everyone = new Visibility([ev.OrgId!]);
        var malicious = new EventFilter(0, 0, "malicious", EventContext.All);
        await using var reference = await NewStoreAsync();
        await reference.Archive.WriteAsync(all, Ct);
        await reference.Archive.WriteAsync([edited!], Ct);
        foreach (var attr in ev.Ref)
        {
            // One row per reference: the event counts once, as malicious.
            Assert.Equal(await reference.Archive.CountEventsAsync(attr, EventFilter.Everything, everyone, Ct), await store.Archive.CountEventsAsync(attr, EventFilter.Everything, everyone, Ct));
            Assert.Equal(await reference.Archive.CountEventsAsync(attr, malicious, everyone, Ct), await store.Archive.CountEventsAsync(attr, malicious, everyone, Ct));
        }
    }

    /// <summary>
    /// Every write adds its reference rows as a new sorted run; runs of a level are merged. Written one document per
    /// transaction, with events replaced along the way (their old rows are in earlier runs, some merged, some not), the
    /// store answers every read as one written at once does, and the number of runs stays logarithmic.
    /// </summary>
    [Theory]
    [InlineData("D3_medium")]
    [InlineData("D4_paging")]
    public async Task ReferenceRuns_WrittenOneDocumentAtATime_AnswerAsOneWrite_AndStayFew(string dataset)
    {
        var ds = Datasets.Named(dataset);
        var all = ds.Everything.ToList();
        var edited = new List<ArchiveDocument>();
        foreach (var ev in ds.Events.Where((_, i) => i % 3 == 0))
        {
            var category = ev.Category == "malicious" ? "benign" : "malicious";
            Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String(category)), out var doc, out var error), error);
            edited.Add(doc!);
        }

        await using var reference = await NewStoreAsync();
        await reference.Archive.WriteAsync(all, Ct);
        await reference.Archive.WriteAsync(edited, Ct);

        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db");
        await using var store = await SqliteStore.OpenAsync(path, Time, Ct);
        // Half of the edits arrive in the middle (after their events, before the second half of the documents).
        var half = all.Count / 2;
        var early = all.Take(half).Select(d => d.Hash).ToHashSet();
        var order = all.Take(half).Concat(edited.Where(d => early.Contains(d.Hash))).Concat(all.Skip(half)).Concat(edited.Where(d => !early.Contains(d.Hash)));
        foreach (var doc in order)
        {
            await store.Archive.WriteAsync([doc], Ct);
        }

        await SameArchiveAnswers.AssertAsync(ds, reference, store, Ct);

        var (runs, rows, orphans) = await RunsAsync(path);
        // At most MergeFanIn - 1 = 7 runs per level (⌊log₈ rows⌋), whatever the number of writes; merged runs leave
        // no rows behind, and no row is lost or doubled.
        Assert.InRange(runs, 1, 7 * ((Math.Log2(rows) / 3) + 1));
        Assert.True(all.Count + edited.Count > 8 * runs, $"{runs} runs for {all.Count + edited.Count} writes");
        Assert.Equal(0, orphans);
        Assert.Equal((await RunsAsync(((SqliteStore)reference).FilePath)).Rows, rows);
    }

    [Fact]
    public async Task NewFile_Has16KiBPages_InWalMode()
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db");
        await using (await SqliteStore.OpenAsync(path, Time, Ct))
        {
        }

        await using var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}");
        await conn.OpenAsync(Ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA page_size;";
        Assert.Equal(16384L, await cmd.ExecuteScalarAsync(Ct));
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", await cmd.ExecuteScalarAsync(Ct));
    }

    /// <summary>Live runs, reference rows, and rows of no live run in the SQLite file at <paramref name="path"/>.</summary>
    private static async Task<(long Runs, long Rows, long Orphans)> RunsAsync(string path)
    {
        await using var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}");
        await conn.OpenAsync(Ct);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT (SELECT count(*) FROM event_ref_runs), (SELECT count(*) FROM event_refs), (SELECT count(*) FROM event_refs WHERE run NOT IN (SELECT run FROM event_ref_runs));";
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        Assert.True(await r.ReadAsync(Ct));
        return (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A file still open on some platform is left to the OS temp cleaner.
        }
    }
}
