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
