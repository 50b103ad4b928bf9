using Cybexp.Report.Core.Storage;
using Cybexp.Report.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// Archive writes do not checkpoint the WAL themselves: <see cref="WalCheckpointer"/> copies it into the database file
/// on a connection of its own, and makes the WAL start over once it passes its limit. Real files, real connections.
/// </summary>
public sealed class SqliteCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-sqlite-checkpoint-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task CommittedWrites_ReachTheDatabaseFile_WithoutAnotherWriteOrClosingTheStore()
    {
        var docs = RandomArchive.Generate(seed: 5, events: 300).Documents;
        var path = Path.Combine(_dir, "archive.db");
        await using var store = await SqliteStore.OpenAsync(path, TimeProvider.System, Ct);
        foreach (var batch in docs.Chunk(100))
        {
            await store.Archive.WriteAsync(batch, Ct);
        }

        await Checkpointer(store).WhenIdleAsync(Ct);

        // The database file alone, without its WAL, holds every committed document: the checkpoint copied them.
        var copy = Path.Combine(_dir, "file-only.db");
        File.Copy(path, copy);
        Assert.Equal(docs.Count, SqliteFile.Scalar(copy, "SELECT count(*) FROM instances;"));
        Assert.Equal(docs.Count(d => d.Itype == "event"), SqliteFile.Scalar(copy, "SELECT count(*) FROM events;"));
    }

    [Fact]
    public async Task OpeningAFileThatNeedsMigrations_LeavesTheirPagesInTheFileAndTheWalEmpty()
    {
        var path = Path.Combine(_dir, "archive.db");
        await using var store = await SqliteStore.OpenAsync(path, TimeProvider.System, Ct);

        // The schema of a new file alone is about 1 MB of WAL frames; the writers' WAL limit does not count them.
        var wal = new FileInfo(path + "-wal");
        Assert.True(!wal.Exists || wal.Length == 0, $"WAL of {wal.Length} bytes after opening");
        var copy = Path.Combine(_dir, "file-only.db");
        File.Copy(path, copy);
        Assert.True(SqliteFile.Scalar(copy, "SELECT count(*) FROM schema_migrations;") > 0);
    }

    [Fact]
    public async Task TheWal_StartsOver_OnceItPassesTheLimit_ThoughCheckpointsRunBesideEveryWrite()
    {
        var docs = RandomArchive.Generate(seed: 6, events: 1500).Documents;
        var path = Path.Combine(_dir, "archive.db");
        await using var store = await SqliteStore.OpenAsync(path, TimeProvider.System, Ct);
        var checkpointer = Checkpointer(store);
        checkpointer.RestartBytes = 256 << 10;
        long largestWrite = 0, written = 0;
        foreach (var batch in docs.Chunk(25))
        {
            var before = WalFrames(path);
            await store.Archive.WriteAsync(batch, Ct);
            var after = WalFrames(path);
            if (after > before)
            {
                largestWrite = Math.Max(largestWrite, (after - before) * SqliteStore.PageSize);
                written += (after - before) * SqliteStore.PageSize;
            }
        }

        // Far more was written than the limit, yet the WAL file never grew much past it: each time it passed the limit,
        // the next transaction waited for the checkpoint and wrote the WAL from its start. Without that wait a write
        // nearly always begins while the last checkpoint still runs, and the WAL grows by every transaction.
        // Compared in pages, as the limit and the transactions are counted: the file holds a 32-byte header and a
        // 24-byte header per frame besides.
        var wal = new FileInfo(path + "-wal").Length;
        var walPages = Math.Max(0, wal - WalHeaderBytes) / (SqliteStore.PageSize + FrameHeaderBytes) * SqliteStore.PageSize;
        Assert.True(written > 4 * checkpointer.RestartBytes, $"only {written} bytes written");
        Assert.True(walPages <= checkpointer.RestartBytes + (3 * largestWrite), $"WAL file of {wal} bytes, {walPages} bytes of pages (limit {checkpointer.RestartBytes}, largest transaction {largestWrite})");
        Assert.Equal(docs.Count, SqliteFile.Scalar(path, "SELECT count(*) FROM instances;"));
    }

    [Fact]
    public async Task AReaderHoldingAnOldSnapshot_DoesNotStopWrites_AndTheWalStartsOverAfterIt()
    {
        var docs = RandomArchive.Generate(seed: 7, events: 600).Documents;
        var path = Path.Combine(_dir, "archive.db");
        await using var store = await SqliteStore.OpenAsync(path, TimeProvider.System, Ct);
        var checkpointer = Checkpointer(store);
        checkpointer.RestartBytes = 64 << 10;
        var chunks = docs.Chunk(25).ToList();
        await store.Archive.WriteAsync(chunks[0], Ct);

        // A reader in an open transaction keeps the WAL from starting over: the writes go on regardless (the wait is for
        // the checkpoint, which never waits for readers) and the WAL grows meanwhile.
        long grown;
        using (var reader = SqliteFile.Open(path))
        {
            using var begin = reader.CreateCommand();
            begin.CommandText = "BEGIN; SELECT count(*) FROM instances;";
            begin.ExecuteScalar();
            foreach (var batch in chunks.Skip(1).Take(chunks.Count / 2))
            {
                await store.Archive.WriteAsync(batch, Ct);
            }

            // Read while the reader is open: once it closes, its connection may be the file's last one (another test's
            // ClearAllPools closes the store's pooled connections), and the last to close deletes the WAL.
            grown = WalFrames(path);
            using var commit = reader.CreateCommand();
            commit.CommandText = "COMMIT;";
            commit.ExecuteNonQuery();
        }

        Assert.True(grown * SqliteStore.PageSize > 2 * checkpointer.RestartBytes, $"WAL of {grown} frames while the reader was open");

        // Without the reader the next writes start the WAL over.
        foreach (var batch in chunks.Skip(1 + (chunks.Count / 2)))
        {
            await store.Archive.WriteAsync(batch, Ct);
        }

        Assert.True(WalFrames(path) < grown, $"the WAL did not start over ({WalFrames(path)} frames, {grown} before)");
        Assert.Equal(docs.Count, SqliteFile.Scalar(path, "SELECT count(*) FROM instances;"));
    }

    /// <summary>The WAL file's header (SQLite's WAL format).</summary>
    private const int WalHeaderBytes = 32;

    /// <summary>The header of each frame (one page) in the WAL file.</summary>
    private const int FrameHeaderBytes = 24;

    private static WalCheckpointer Checkpointer(ICybexpStore store) => ((SqliteArchive)store.Archive).Checkpointer;

    /// <summary>Frames in the WAL now (its valid part), read from the WAL index without checkpointing.</summary>
    private static long WalFrames(string path)
    {
        // The WAL index header's mxFrame: the 32-bit native-order value at byte 16 of the -shm file.
        // No -shm file (or one just being created): no WAL. The last connection to close deletes both at any moment.
        try
        {
            using var f = new FileStream(path + "-shm", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var header = new byte[20];
            f.ReadExactly(header);
            return BitConverter.ToUInt32(header, 16);
        }
        catch (Exception e) when (e is FileNotFoundException or EndOfStreamException)
        {
            return 0;
        }
    }
}
