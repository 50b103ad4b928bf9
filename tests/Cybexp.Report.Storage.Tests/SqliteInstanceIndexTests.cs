using Cybexp.Report.Core.Storage;
using Cybexp.Report.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// The SQLite store finds events through an index of the first 8 bytes of their hash, and every other instance through
/// a UNIQUE index of its whole hash (migration 0010). Two hashes that share a prefix must still be two documents, and
/// every lookup by hash must go through one of the indexes, never through a scan of the instances table.
/// </summary>
public sealed class SqliteInstanceIndexTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-sqlite-hash8-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task EventsWhoseHashesShareAPrefix_AreDifferentDocuments_ForWritesAndEveryLookup()
    {
        var ds = Datasets.Named("D3_medium");
        var events = ds.Events.ToList();
        Assert.True(events.Count > 2);

        // One referenced attribute is never written, so that its references dangle; a stored row shares its prefix.
        var missing = events.SelectMany(e => e.Ref).First(h => ds.Tahoe.Any(d => d.Hash == h && d.Itype == "attribute"));
        var documents = ds.Everything.Where(d => d.Hash != missing).ToList();

        await using var fresh = await SqliteStore.OpenAsync(Path.Combine(_dir, "fresh.db"), TimeProvider.System, Ct);
        Assert.Equal(new WriteSummary(documents.Count, 0, 0), await fresh.Archive.WriteAsync(documents, Ct));

        // Before anything is written: for every event, and for the missing attribute, an event row whose hash has the
        // same first 8 bytes and differs after them. Its document is another event's, so that a lookup that stopped at
        // the prefix would answer with the wrong document.
        var path = Path.Combine(_dir, "collided.db");
        await using var collided = await SqliteStore.OpenAsync(path, TimeProvider.System, Ct);
        var prefixes = events.Select(e => e.Hash).Append(missing).ToList();
        using (var conn = SqliteFile.Open(path))
        {
            for (var i = 0; i < prefixes.Count; i++)
            {
                using var cmd = conn.CreateCommand();
                cmd.CommandText = "INSERT INTO instances (hash, itype, sub_type, doc, prefix_no) VALUES ($h, 'event', 'x', $d, 0);";
                cmd.Parameters.AddWithValue("$h", SamePrefix(prefixes[i].ToBytes()));
                cmd.Parameters.AddWithValue("$d", PackedDocumentText.Pack(StoredDocumentText.Of(events[(i + 1) % events.Count])));
                cmd.ExecuteNonQuery();
            }
        }

        Assert.Equal(new WriteSummary(documents.Count, 0, 0), await collided.Archive.WriteAsync(documents, Ct));
        Assert.Equal(new WriteSummary(0, documents.Count, 0), await collided.Archive.WriteAsync(documents, Ct));

        // Each event took the number after the row holding its prefix.
        Assert.Equal(events.Count, SqliteFile.Scalar(path, "SELECT count(*) FROM instances WHERE itype = 'event' AND prefix_no = 1;"));
        Assert.Equal(0, SqliteFile.Scalar(path, "SELECT count(*) FROM instances WHERE itype = 'event' AND prefix_no > 1;"));

        Assert.True(await fresh.Archive.CountDanglingReferencesAsync(Ct) > 0);
        await SameArchiveAnswers.AssertAsync(ds, fresh, collided, Ct, extraEvents: prefixes.Count);
        foreach (var e in events)
        {
            var found = Assert.Single(await collided.Archive.GetDocumentsAsync([e.Hash], Ct));
            Assert.Equal(StoredDocumentText.Of(e), StoredDocumentText.Of(found));
        }

        Assert.Empty(await collided.Archive.GetDocumentsAsync([missing], Ct));
    }

    [Fact]
    public async Task LookupsByHash_SearchTheHashIndexes_AndNeverScanInstances()
    {
        var path = Path.Combine(_dir, "plans.db");
        await using (await SqliteStore.OpenAsync(path, TimeProvider.System, Ct))
        {
        }

        AssertSearches(path, SqliteArchive.InstancesByHash("seq, doc", "?1", "?2") + ";", "instances_hash", "instances_event_hash8");
        AssertSearches(path, SqliteArchive.DanglingReferencesSql, "instances_hash", "instances_event_hash8");
        AssertSearches(path, SqliteArchive.AttributesAmongSql("?1", "?2"), "instances_hash");
        AssertSearches(path, SqliteArchive.EventsOfSessionSql("$o0"), "instances_hash", "instances_event_hash8");
    }

    /// <summary>The plan of <paramref name="sql"/> uses each of <paramref name="indexes"/> and scans no instances table.</summary>
    private static void AssertSearches(string path, string sql, params string[] indexes)
    {
        var plan = SqliteFile.Rows(path, "EXPLAIN QUERY PLAN " + sql).Select(r => r.Split('|')[^1]).ToList();
        var text = string.Join("\n", plan);
        foreach (var index in indexes)
        {
            Assert.True(plan.Any(p => p.Contains($"INDEX {index} ", StringComparison.Ordinal)), $"{index} not used:\n{text}");
        }

        Assert.DoesNotContain(plan, p => p.StartsWith("SCAN instances", StringComparison.Ordinal) || p.StartsWith("SCAN i", StringComparison.Ordinal) || p.StartsWith("SCAN s ", StringComparison.Ordinal));
    }

    /// <summary>A hash with the first 8 bytes of <paramref name="hash"/> and every later byte changed.</summary>
    private static byte[] SamePrefix(byte[] hash)
    {
        var other = (byte[])hash.Clone();
        for (var i = 8; i < other.Length; i++)
        {
            other[i] ^= 0xFF;
        }

        return other;
    }
}
