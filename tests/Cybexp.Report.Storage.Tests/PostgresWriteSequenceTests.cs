using System.Diagnostics;
using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Npgsql;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// The PostgreSQL archive's write sequence (<see cref="IArchiveWriteSequence"/>): its transactions overlap on separate
/// connections, and the store ends up exactly as after committing them one by one, in order.
/// </summary>
public sealed class PostgresWriteSequenceTests : IAsyncLifetime
{
    private readonly PostgresSchemas _schemas = new();

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _schemas.DropAllAsync();

    [Fact]
    public async Task Sequence_OfOverlappingCommits_StoresWhatOneOrderedWriterStores_WithTheSameCounts()
    {
        // Small batches with edited versions of earlier documents (hashes shared between neighbouring batches), all
        // committed with the sequence's full overlap, against the same batches written one by one.
        var batches = BatchesWithEdits(Datasets.Named("D3_medium"), size: 9);
        await using var sequential = await _schemas.OpenAsync(TimeProvider.System, Ct);
        await using var overlapping = await _schemas.OpenAsync(TimeProvider.System, Ct);
        var expected = new List<WriteSummary>();
        foreach (var batch in batches)
        {
            expected.Add(await sequential.Archive.WriteAsync(batch, Ct));
        }

        var sequence = overlapping.Archive.BeginWriteSequence();
        Assert.True(sequence.CommitsInFlight > 1);
        var actual = await WriteOverlappingAsync(sequence, batches.Select(b => new[] { b }));

        Assert.Equal(expected, actual);
        Assert.Contains(expected, s => s.Updated > 0);
        Assert.Equal(await DumpAsync(sequential.Schema!), await DumpAsync(overlapping.Schema!));
    }

    [Fact]
    public async Task Sequence_OfWritesGivenSeveralChunks_InAListTheCallerRefills_StoresWhatOneTransactionPerWriteStores()
    {
        // Each write takes several batches, one AddAsync each, from one list the caller clears and refills as soon as
        // AddAsync returns (the write copies each chunk while it is written in the background). A batch that shares a
        // hash with the open write starts the next write (a transaction holds a hash once), so edits land in a later
        // write that overlaps the earlier one's commit. Against: each write's documents in one WriteAsync.
        var batches = BatchesWithEdits(Datasets.Named("D3_medium"), size: 7);
        var writes = new List<List<List<ArchiveDocument>>>();
        var open = new List<List<ArchiveDocument>>();
        var hashes = new HashSet<InstanceHash>();
        foreach (var batch in batches)
        {
            if (open.Count == 4 || batch.Any(d => hashes.Contains(d.Hash)))
            {
                writes.Add(open);
                open = [];
                hashes.Clear();
            }

            open.Add(batch);
            hashes.UnionWith(batch.Select(d => d.Hash));
        }

        writes.Add(open);
        Assert.Contains(writes, w => w.Count > 1);
        await using var sequential = await _schemas.OpenAsync(TimeProvider.System, Ct);
        await using var overlapping = await _schemas.OpenAsync(TimeProvider.System, Ct);
        var expected = new List<WriteSummary>();
        foreach (var write in writes)
        {
            expected.Add(await sequential.Archive.WriteAsync(write.SelectMany(b => b).ToList(), Ct));
        }

        var actual = await WriteOverlappingAsync(overlapping.Archive.BeginWriteSequence(), writes);

        Assert.Equal(expected, actual);
        Assert.Contains(expected, s => s.Updated > 0);

        // identity_version counts the statements that changed identity rows (a trigger per statement), and a write
        // given several chunks writes a chunk's identity rows with each: it only has to have moved.
        Assert.Equal(await DumpAsync(sequential.Schema!, identityVersion: false), await DumpAsync(overlapping.Schema!, identityVersion: false));
        Assert.True(await IdentityVersionAsync(overlapping.Schema!) >= await IdentityVersionAsync(sequential.Schema!));
    }

    [Fact]
    public async Task Sequence_WriteGivenChunks_AndDisposedWithoutCommit_StoresNothing_AndTheNextSequenceStoresAll()
    {
        var ds = Datasets.Named("D1_tiny");
        var docs = ds.Tahoe.ToList();
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct);
        var sequence = store.Archive.BeginWriteSequence();
        await using (var write = await sequence.BeginWriteAsync(Ct))
        {
            foreach (var chunk in docs.Chunk(3))
            {
                await write.AddAsync(chunk, Ct);
            }
        }

        Assert.Empty(await store.Archive.CountByItypeAsync(Ct));
        Assert.Equal(0, await store.Archive.VersionAsync(Ct));

        var again = store.Archive.BeginWriteSequence();
        await using var second = await again.BeginWriteAsync(Ct);
        foreach (var chunk in docs.Chunk(3))
        {
            await second.AddAsync(chunk, Ct);
        }

        Assert.Equal(new WriteSummary(docs.Count, 0, 0), await second.CommitAsync(Ct));
        Assert.Equal(docs.Count, (await store.Archive.CountByItypeAsync(Ct)).Values.Sum());
        Assert.Equal(0, await store.Archive.CountDanglingReferencesAsync(Ct));
    }

    [Fact]
    public async Task Sequence_LaterWriteSharingADocument_WaitsForTheEarlierOne_SoTheLaterContentWins()
    {
        // The first write is held up inside the server (another transaction holds its first document); the second
        // write edits the first write's event and must not store it before the first write did.
        var ds = Datasets.Named("D1_tiny");
        var ev = ds.Events.First(e => e.Category != "malicious");
        Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String("malicious")), out var edited, out var error), error);
        var blocker = ds.Everything.Where(d => string.CompareOrdinal(d.Hash.Value, ev.Hash.Value) < 0).OrderBy(d => d.Hash.Value, StringComparer.Ordinal).First();
        var schema = _schemas.NewName();
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var other = await PostgresSchemas.ConnectAsync(Ct);
        await using var otherTx = await HoldAsync(other, schema, blocker);

        var sequence = store.Archive.BeginWriteSequence();
        var first = await CommitAsync(sequence, [blocker, ev]);
        var second = await CommitAsync(sequence, [edited!]);
        await WaitUntilBlockedByAsync(other, first);
        await Task.Delay(300, Ct);
        Assert.False(second.IsCompleted);

        await otherTx.RollbackAsync(Ct);
        Assert.Equal(new WriteSummary(2, 0, 0), await first);
        Assert.Equal(new WriteSummary(0, 0, 1), await second);
        var stored = await store.Archive.GetDocumentsAsync([ev.Hash, blocker.Hash], Ct);
        Assert.Equal([blocker.Hash, ev.Hash], stored.Select(d => d.Hash));
        Assert.Equal("malicious", stored[1].Category);
        var malicious = new EventFilter(0, 0, "malicious", EventContext.All);
        Assert.Equal(1, await store.Archive.CountEventsAsync(ev.Ref[0], malicious, new Visibility([ev.OrgId!]), Ct));
    }

    [Fact]
    public async Task Sequence_WhenAWriteFails_LaterWritesCommitNothing_AndARerunCompletesTheStore()
    {
        var ds = Datasets.Named("D1_tiny");
        var docs = ds.Tahoe.OrderBy(d => d.Hash.Value, StringComparer.Ordinal).ToList();
        var blocker = docs[0];
        var firstBatch = docs.Take(docs.Count / 2).ToList();
        var secondBatch = docs.Skip(docs.Count / 2).ToList();
        var schema = _schemas.NewName();
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using (var other = await PostgresSchemas.ConnectAsync(Ct))
        await using (var otherTx = await HoldAsync(other, schema, blocker))
        {
            var sequence = store.Archive.BeginWriteSequence();
            var first = await CommitAsync(sequence, firstBatch);
            var second = await CommitAsync(sequence, secondBatch);
            var pid = await WaitUntilBlockedByAsync(other, first);

            // The second write has written its rows meanwhile and waits for the first to end; the first one's server
            // process goes away.
            await using (var kill = new NpgsqlCommand("SELECT pg_terminate_backend($1);", other, otherTx))
            {
                kill.Parameters.AddWithValue(pid);
                await kill.ExecuteScalarAsync(Ct);
            }

            await Assert.ThrowsAnyAsync<Exception>(() => first);
            await Assert.ThrowsAnyAsync<Exception>(() => second);
            await otherTx.RollbackAsync(Ct);
        }

        Assert.Empty(await store.Archive.CountByItypeAsync(Ct));
        Assert.Equal(0, await store.Archive.VersionAsync(Ct));

        var rerun = store.Archive.BeginWriteSequence();
        var again = await Task.WhenAll(await CommitAsync(rerun, firstBatch), await CommitAsync(rerun, secondBatch));
        Assert.Equal([new WriteSummary(firstBatch.Count, 0, 0), new WriteSummary(secondBatch.Count, 0, 0)], again);
        Assert.Equal(docs.Count, (await store.Archive.CountByItypeAsync(Ct)).Values.Sum());
        Assert.Equal(0, await store.Archive.CountDanglingReferencesAsync(Ct));
    }

    [Fact]
    public async Task Sequences_OfTwoProcesses_WritingTheSameDocumentsInOppositeOrders_StoreEachOnce_WithoutDeadlocks()
    {
        // Each process overlaps its own batches; the shared documents must neither deadlock the four transactions in
        // flight nor be stored twice.
        var ds = Datasets.Named("D3_medium");
        var docs = ds.Tahoe.ToList();
        var schema = _schemas.NewName();
        await using var a = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var b = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);

        static async Task<WriteSummary> IngestAsync(ICybexpStore store, IReadOnlyList<ArchiveDocument> order)
        {
            var sequence = store.Archive.BeginWriteSequence();
            var commits = new Queue<Task<WriteSummary>>();
            int inserted = 0, duplicates = 0, updated = 0;
            foreach (var chunk in order.Chunk(11))
            {
                commits.Enqueue(await CommitAsync(sequence, chunk));
                while (commits.Count >= sequence.CommitsInFlight)
                {
                    Add(await commits.Dequeue());
                }
            }

            while (commits.Count > 0)
            {
                Add(await commits.Dequeue());
            }

            return new WriteSummary(inserted, duplicates, updated);

            void Add(WriteSummary s)
            {
                inserted += s.Inserted;
                duplicates += s.Duplicates;
                updated += s.Updated;
            }
        }

        for (var round = 0; round < 3; round++)
        {
            await using (var conn = await PostgresSchemas.ConnectAsync(Ct))
            await using (var clear = new NpgsqlCommand($"TRUNCATE \"{schema}\".instances, \"{schema}\".events, \"{schema}\".event_refs, \"{schema}\".session_events;", conn))
            {
                await clear.ExecuteNonQueryAsync(Ct);
            }

            var results = await Task.WhenAll(
                Task.Run(() => IngestAsync(a, docs)),
                Task.Run(() => IngestAsync(b, Enumerable.Reverse(docs).ToList())));

            Assert.Equal(docs.Count, results[0].Inserted + results[1].Inserted);
            Assert.All(results, r => Assert.Equal(docs.Count, r.Inserted + r.Duplicates));
            Assert.All(results, r => Assert.Equal(0, r.Updated));
            Assert.Equal(docs.Count, (await a.Archive.CountByItypeAsync(Ct)).Values.Sum());
            Assert.Equal(0, await b.Archive.CountDanglingReferencesAsync(Ct));
        }
    }

    [Fact]
    public async Task Sequence_NextWrite_InsertsItsDocumentsOnlyAfterThePreviousWriteInsertedItsOwn()
    {
        // Another process's writer holds the first write's document and then wants the second write's. Had the second
        // write inserted its document meanwhile, that writer would wait for it, the second write waits for the first
        // before committing, and the first waits for that writer: a cycle of waits. The second write must hold nothing.
        var ds = Datasets.Named("D1_tiny");
        var docs = ds.Tahoe.Take(2).ToList();
        var schema = _schemas.NewName();
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var other = await PostgresSchemas.ConnectAsync(Ct);
        await using var otherTx = await HoldAsync(other, schema, docs[0]);

        var sequence = store.Archive.BeginWriteSequence();
        var first = await CommitAsync(sequence, [docs[0]]);
        var second = await CommitAsync(sequence, [docs[1]]);
        await WaitUntilBlockedByAsync(other, first);
        await Task.Delay(300, Ct);

        await using (var timeout = new NpgsqlCommand("SET LOCAL lock_timeout = '5s';", other, otherTx))
        {
            await timeout.ExecuteNonQueryAsync(Ct);
        }

        await using (var insert = new NpgsqlCommand($"INSERT INTO \"{schema}\".instances (seq, hash, itype, sub_type, doc) VALUES (0, $1, 'x', 'x', 'x');", other, otherTx))
        {
            insert.Parameters.AddWithValue(docs[1].Hash.ToBytes());
            var waited = Stopwatch.StartNew();
            await insert.ExecuteNonQueryAsync(Ct);
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(1), $"the other writer waited {waited.Elapsed} for the second write's document");
        }

        await otherTx.RollbackAsync(Ct);
        Assert.Equal([new WriteSummary(1, 0, 0), new WriteSummary(1, 0, 0)], await Task.WhenAll(first, second));
    }

    /// <summary>
    /// Writes <paramref name="writes"/> (each a list of chunks, one AddAsync per chunk, from one list refilled as soon
    /// as AddAsync returns) with the sequence's full overlap; their summaries in order.
    /// </summary>
    private static async Task<List<WriteSummary>> WriteOverlappingAsync(IArchiveWriteSequence sequence, IEnumerable<IReadOnlyList<IReadOnlyList<ArchiveDocument>>> writes)
    {
        var commits = new Queue<Task<WriteSummary>>();
        var summaries = new List<WriteSummary>();
        var buffer = new List<ArchiveDocument>();
        foreach (var chunks in writes)
        {
            var write = await sequence.BeginWriteAsync(Ct);
            foreach (var chunk in chunks)
            {
                buffer.Clear();
                buffer.AddRange(chunk);
                await write.AddAsync(buffer, Ct);
            }

            buffer.Clear();
            commits.Enqueue(write.CommitAsync(Ct));
            while (commits.Count >= sequence.CommitsInFlight)
            {
                summaries.Add(await commits.Dequeue());
            }
        }

        while (commits.Count > 0)
        {
            summaries.Add(await commits.Dequeue());
        }

        return summaries;
    }

    /// <summary>Begins a write of the sequence with <paramref name="docs"/> and calls its commit (not awaited).</summary>
    private static async Task<Task<WriteSummary>> CommitAsync(IArchiveWriteSequence sequence, IReadOnlyList<ArchiveDocument> docs)
    {
        var write = await sequence.BeginWriteAsync(Ct);
        await write.AddAsync(docs, Ct);
        return write.CommitAsync(Ct);
    }

    /// <summary>Inserts <paramref name="doc"/> in an open transaction of <paramref name="conn"/>: a writer of it waits.</summary>
    private static async Task<NpgsqlTransaction> HoldAsync(NpgsqlConnection conn, string schema, ArchiveDocument doc)
    {
        var tx = await conn.BeginTransactionAsync(Ct);
        await using var insert = new NpgsqlCommand($"INSERT INTO \"{schema}\".instances (seq, hash, itype, sub_type, doc) VALUES (0, $1, $2, $3, $4);", conn, tx);
        insert.Parameters.AddWithValue(doc.Hash.ToBytes());
        insert.Parameters.AddWithValue(doc.Itype);
        insert.Parameters.AddWithValue(doc.SubType);
        insert.Parameters.AddWithValue(PackedDocumentText.Pack(doc.StoredText));
        await insert.ExecuteNonQueryAsync(Ct);
        return tx;
    }

    /// <summary>Waits until a server process waits for <paramref name="holder"/>'s transaction; its pid.</summary>
    private static async Task<int> WaitUntilBlockedByAsync(NpgsqlConnection holder, Task writing)
    {
        await using var watch = await PostgresSchemas.ConnectAsync(Ct);
        var waited = Stopwatch.StartNew();
        while (!writing.IsCompleted && waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            await using var cmd = new NpgsqlCommand("SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid));", watch);
            cmd.Parameters.AddWithValue(holder.ProcessID);
            if (await cmd.ExecuteScalarAsync(Ct) is int pid)
            {
                return pid;
            }

            await Task.Delay(20, Ct);
        }

        Assert.Fail("the first write did not wait for the other transaction's row");
        return 0;
    }

    /// <summary>
    /// The documents in batches of <paramref name="size"/>, each batch followed in the next one by an edited version of
    /// one of its events (category flipped), so neighbouring batches share a hash.
    /// </summary>
    private static List<List<ArchiveDocument>> BatchesWithEdits(Dataset ds, int size)
    {
        var batches = new List<List<ArchiveDocument>>();
        ArchiveDocument? pendingEdit = null;
        foreach (var chunk in ds.Everything.Chunk(size))
        {
            var batch = chunk.ToList();
            if (pendingEdit is not null)
            {
                batch.Add(pendingEdit);
                pendingEdit = null;
            }

            if (chunk.FirstOrDefault(d => d.Itype == "event") is { } ev)
            {
                var flipped = ev.Category == "malicious" ? "benign" : "malicious";
                Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String(flipped)), out pendingEdit, out var error), error);
            }

            batches.Add(batch);
        }

        return batches;
    }

    private static async Task<long> IdentityVersionAsync(string schema)
    {
        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using var cmd = new NpgsqlCommand($"SELECT version FROM \"{schema}\".identity_version;", conn);
        return (long)(await cmd.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>Every archive table of <paramref name="schema"/>, rows in key order, as text.</summary>
    private static async Task<string> DumpAsync(string schema, bool identityVersion = true)
    {
        string[] tables =
        [
            "instances ORDER BY hash", "events ORDER BY hash", "event_refs ORDER BY ref_hash, org, ts, event_seq", "event_orgs ORDER BY id",
            "session_events ORDER BY event_hash, session_hash", "users ORDER BY hash", "orgs ORDER BY hash", "org_members ORDER BY user_hash, role, org_hash",
            "archive_version", .. identityVersion ? (string[])["identity_version"] : [],
        ];
        var text = new StringBuilder();
        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        foreach (var table in tables)
        {
            await using var cmd = new NpgsqlCommand($"SELECT t::text FROM \"{schema}\".{table.Replace(" ORDER BY ", " AS t ORDER BY ", StringComparison.Ordinal)};", conn);
            if (!table.Contains(" ORDER BY ", StringComparison.Ordinal))
            {
                cmd.CommandText = $"SELECT t::text FROM \"{schema}\".{table} AS t;";
            }

            text.Append("== ").AppendLine(table);
            await using var r = await cmd.ExecuteReaderAsync(Ct);
            while (await r.ReadAsync(Ct))
            {
                text.AppendLine(r.GetString(0));
            }
        }

        return text.ToString();
    }
}
