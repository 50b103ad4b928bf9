using System.Numerics;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// The SQLite reference index keeps its sorted runs in two tables (event_refs_0 and event_refs_1 behind the view
/// event_refs), and a merge reads one table and writes the other. These tests write real files in transactions of
/// varying sizes, so that runs of one level come to lie in both tables, and check where every row is and what the
/// store answers.
/// </summary>
public sealed class SqliteReferenceRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-sqlite-runs-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("D3_medium")]
    [InlineData("D2_small")]
    public async Task Merges_OfRunsLyingInBothTables_KeepEveryRowOnce_InItsRunsTable_AndAnswerAsOneWrite(string dataset)
    {
        var ds = Datasets.Named(dataset);
        var all = ds.Everything.ToList();
        var edited = CategoryEdits(ds, i => i % 4 == 1);
        await using var reference = await WrittenAtOnceAsync(all, edited);

        var path = Path.Combine(_dir, "runs.db");
        await using var store = await SqliteStore.OpenAsync(path, TimeProvider.System, Ct);
        var order = all.Concat(edited).ToList();
        var mixedLevelMerged = false;
        var previous = LiveRuns(path);
        // With a fan-in of 4 (the datasets have too few rows for the default's levels): four transactions of ≥ 4
        // reference rows (level 1) are merged into a run of level 2 in event_refs_1; then three of ≥ 16 rows are new
        // runs of level 2 in event_refs_0, and the fourth run of that level starts a merge of runs of both tables.
        // Repeated while documents last.
        ((SqliteArchive)store.Archive).MergeFanIn = 4;
        int[] minRows = [4, 4, 4, 4, 16, 16, 16];
        for (int at = 0, write = 0; at < order.Count; write++)
        {
            var batch = new List<ArchiveDocument>();
            for (var rows = 0; at < order.Count && rows < minRows[write % minRows.Length]; at++)
            {
                batch.Add(order[at]);
                rows += order[at].Itype == "event" ? order[at].Ref.Length : 0;
            }

            await store.Archive.WriteAsync(batch, Ct);

            var live = LiveRuns(path);
            // Every row lies in the table its run names, and no run is in both tables.
            Assert.Equal(0, SqliteFile.Scalar(path, "SELECT count(*) FROM event_refs_0 WHERE run NOT IN (SELECT run FROM event_ref_runs WHERE tab = 0);"));
            Assert.Equal(0, SqliteFile.Scalar(path, "SELECT count(*) FROM event_refs_1 WHERE run NOT IN (SELECT run FROM event_ref_runs WHERE tab = 1);"));

            // Runs leave only by a merge, and a merge takes every run of its level: a level whose runs lay in both
            // tables before this write, and none of which is live after it, was merged from both tables.
            var liveRuns = live.Select(r => r.Run).ToHashSet();
            mixedLevelMerged |= previous
                .GroupBy(r => Level(r.Rows))
                .Any(g => g.Select(r => r.Table).Distinct().Count() == 2 && g.All(r => !liveRuns.Contains(r.Run)));
            previous = live;
        }

        Assert.True(mixedLevelMerged, "no merge read runs of both tables");
        Assert.Equal(
            SqliteFile.Scalar(((SqliteStore)reference).FilePath, "SELECT count(*) FROM event_refs;"),
            SqliteFile.Scalar(path, "SELECT count(*) FROM event_refs;"));
        await SameArchiveAnswers.AssertAsync(ds, reference, store, Ct);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(40)]
    [InlineData(1000)]
    public async Task MergesDoneAPieceAtATime_WhileTheWriteIsIdle_WithEditsArrivingMidMerge_AnswerAsOneWrite(int idleSteps)
    {
        // Fan-in 4, transactions of a few events: merges fall due often, and each transaction does up to idleSteps
        // slices of one (256 slices per merge) between adding its first and second half; the second half holds edits
        // of stored events, whose old rows must be deleted from runs a merge is copying.
        var ds = Datasets.Named("D3_medium");
        var all = ds.Everything.ToList();
        var edited = CategoryEdits(ds, i => i % 3 == 0);
        await using var reference = await WrittenAtOnceAsync(all, edited);

        var path = Path.Combine(_dir, "idle.db");
        await using var store = await SqliteStore.OpenAsync(path, TimeProvider.System, Ct);
        ((SqliteArchive)store.Archive).MergeFanIn = 4;
        var order = all.Concat(edited).ToList();
        var worked = 0;
        var editsMidMerge = 0;
        for (var at = 0; at < order.Count; at += 12)
        {
            var batch = order.Skip(at).Take(12).ToList();
            await using var write = await store.Archive.BeginWriteAsync(Ct);
            await write.AddAsync(batch.Take(6).ToList(), Ct);
            var steps = 0;
            while (steps < idleSteps && write.WorkWhileIdle())
            {
                steps++;
            }

            worked += steps;
            editsMidMerge += steps is > 0 and < 256 && batch.Skip(6).Any(d => edited.Contains(d)) ? 1 : 0;
            await write.AddAsync(batch.Skip(6).ToList(), Ct);
            await write.CommitAsync(Ct);
        }

        Assert.True(worked > 0, "no merge was worked on while idle");
        if (idleSteps < 256)
        {
            Assert.True(editsMidMerge > 0, "no edit arrived while a merge was under way");
        }

        // Every row once, in a registered run; the same rows and answers as one write.
        Assert.Equal(0, SqliteFile.Scalar(path, "SELECT count(*) FROM event_refs WHERE run NOT IN (SELECT run FROM event_ref_runs);"));
        const string Rows = "SELECT hex(ref_hash), org, ts, event_seq, ctx, category FROM event_refs ORDER BY ref_hash, org, ts, event_seq;";
        Assert.Equal(SqliteFile.Rows(((SqliteStore)reference).FilePath, Rows), SqliteFile.Rows(path, Rows));
        await SameArchiveAnswers.AssertAsync(ds, reference, store, Ct);
    }

    [Fact]
    public async Task ALargeTransaction_SortedInTwoHalvesAtOnce_StoresTheSameRows_AsSmallTransactions()
    {
        // Over 20,000 reference rows in one transaction: the writer splits them by the first bit of their hash and sorts
        // the two parts on two threads (over 1 MiB of hashes, as when the rows' hashes were kept in 1 MiB blocks).
        var docs = RandomArchive.Generate(seed: 11, events: 16000).Documents;
        var rows = docs.Where(d => d.Itype == "event").Sum(d => d.Ref.Length);
        Assert.True(rows * 32 > 1 << 20, $"only {rows} reference rows");

        var whole = Path.Combine(_dir, "whole.db");
        await using (var store = await SqliteStore.OpenAsync(whole, TimeProvider.System, Ct))
        {
            await store.Archive.WriteAsync(docs, Ct);
        }

        var small = Path.Combine(_dir, "small.db");
        await using (var store = await SqliteStore.OpenAsync(small, TimeProvider.System, Ct))
        {
            foreach (var batch in docs.Chunk(500))
            {
                await store.Archive.WriteAsync(batch, Ct);
            }
        }

        const string Rows = "SELECT hex(ref_hash), org, ts, event_seq, ctx, category FROM event_refs ORDER BY ref_hash, org, ts, event_seq;";
        var expected = SqliteFile.Rows(small, Rows);
        Assert.Equal(rows, expected.Count);
        Assert.Equal(expected, SqliteFile.Rows(whole, Rows));
        Assert.Equal(1, SqliteFile.Scalar(whole, "SELECT count(*) FROM event_ref_runs;"));
    }

    [Fact]
    public async Task NewFile_KeepsReferenceRows_InTwoTables_BehindTheView()
    {
        var path = Path.Combine(_dir, "new.db");
        await using (await SqliteStore.OpenAsync(path, TimeProvider.System, Ct))
        {
        }

        Assert.Equal(1, SqliteFile.Scalar(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'view' AND name = 'event_refs';"));
        Assert.Equal(2, SqliteFile.Scalar(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('event_refs_0', 'event_refs_1');"));
    }

    /// <summary>The events picked by their index, with the category changed (a later edit of each).</summary>
    private static List<ArchiveDocument> CategoryEdits(Dataset ds, Func<int, bool> pick)
    {
        var edited = new List<ArchiveDocument>();
        foreach (var ev in ds.Events.Where((_, i) => pick(i)))
        {
            var category = ev.Category == "malicious" ? "benign" : "malicious";
            Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String(category)), out var doc, out var error), error);
            edited.Add(doc!);
        }

        return edited;
    }

    /// <summary>A store holding <paramref name="all"/>, then <paramref name="edited"/>, each written in one transaction.</summary>
    private async Task<ICybexpStore> WrittenAtOnceAsync(List<ArchiveDocument> all, List<ArchiveDocument> edited)
    {
        var reference = await SqliteStore.OpenAsync(Path.Combine(_dir, "reference.db"), TimeProvider.System, Ct);
        await reference.Archive.WriteAsync(all, Ct);
        await reference.Archive.WriteAsync(edited, Ct);
        return reference;
    }

    /// <summary>⌊log₄ rows⌋, the level the writer gives a run with a fan-in of 4.</summary>
    private static int Level(long rows) => rows <= 1 ? 0 : (63 - BitOperations.LeadingZeroCount((ulong)rows)) / 2;

    private static List<(long Run, long Rows, long Table)> LiveRuns(string path)
    {
        using var conn = SqliteFile.Open(path);
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT run, rows, tab FROM event_ref_runs ORDER BY run;";
        using var r = cmd.ExecuteReader();
        var result = new List<(long, long, long)>();
        while (r.Read())
        {
            result.Add((r.GetInt64(0), r.GetInt64(1), r.GetInt64(2)));
        }

        return result;
    }
}
