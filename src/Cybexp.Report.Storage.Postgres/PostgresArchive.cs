using System.Runtime.CompilerServices;
using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Npgsql;
using NpgsqlTypes;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// The archive in PostgreSQL: documents, the event/reference index, sessions and identity tables. A batch is written
/// set-wise in one transaction (array parameters and <see cref="NpgsqlBatch"/>), a handful of round trips whatever its
/// size.
/// </summary>
internal sealed class PostgresArchive(PostgresStore store) : IArchiveStore
{
    private const int HashBytes = 32;

    private PostgresStore Store => store;

    /// <summary>orgid → event_orgs.id of committed rows (numbers are never changed or reused, so they can be cached).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _orgNumbers = new(StringComparer.Ordinal);

    /// <summary>How the next batch finds its stored documents, from what the last batch found (the first one probes).</summary>
    private volatile InsertPath _nextPath = InsertPath.Probe;

    /// <summary>How a batch finds which of its documents are stored (<see cref="InsertNewAsync"/>).</summary>
    private enum InsertPath
    {
        /// <summary>Probe the hashes, COPY the new documents, stage the stored ones.</summary>
        Probe,

        /// <summary>COPY every document (the last batch found none stored).</summary>
        Copy,

        /// <summary>Stage every document (the last batch found at least half of them stored).</summary>
        Stage,
    }

    public Task<WriteSummary> WriteAsync(IReadOnlyList<ArchiveDocument> batch, CancellationToken cancellationToken) =>
        WriteOnceAsync(WritePlan.Of(batch), cancellationToken);

    /// <summary>
    /// Two transactions of the sequence are written at once, each on its own connection (so on its own server
    /// process): the server's work per document is the larger part of an ingest's, and one backend uses one core.
    /// </summary>
    public IArchiveWriteSequence BeginWriteSequence() => new OrderedWrites(this);

    /// <summary>
    /// Documents per transaction of an ingest. A write of a sequence writes each chunk it is given at once and keeps
    /// only the chunk's reference rows (about 100 bytes each) until the commit, which copies them all, sorted: the
    /// larger the sorted COPY, the more of its rows land next to each other in the <c>event_refs</c> index, and the
    /// less the server works per row (1M events: 33–39 s of server user CPU with 2,000 documents per transaction,
    /// 24–27 s with 20,000; see bench/results/ingest.md). Each chunk that copies new documents takes a savepoint, and
    /// more than 64 subtransactions in one transaction slow other sessions down: 20,000 documents make 10.
    /// </summary>
    public int PreferredTransactionSize => 20_000;

    /// <summary>Writes <paramref name="plan"/> in one transaction of its own.</summary>
    private Task<WriteSummary> WriteOnceAsync(WritePlan plan, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            if (plan.Count == 0)
            {
                return new WriteSummary(0, 0, 0);
            }

            // Numbers for the batch's event owners, committed before the batch's transaction (an unused number is
            // harmless, and the cache only ever holds committed ones).
            await NumberOrgsAsync(conn, plan, cancellationToken).ConfigureAwait(false);
            await using var tx = await conn.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var refs = new List<RefRow>();
            var summary = await WriteChunkAsync(conn, tx, plan, null, refs, cancellationToken).ConfigureAwait(false);
            await FinishAsync(conn, tx, refs, summary, null, cancellationToken).ConfigureAwait(false);
            return summary;
        },
        cancellationToken);

    /// <summary>
    /// Writes the documents of <paramref name="plan"/> in the open transaction <paramref name="tx"/>: their
    /// <c>instances</c>, <c>events</c>, <c>session_events</c> and identity rows; their <c>event_refs</c> rows are added to
    /// <paramref name="refs"/>, for <see cref="FinishAsync"/>. With a <paramref name="ticket"/>, as a chunk of a write of
    /// an <see cref="OrderedWrites"/> sequence (see there for how the order is kept).
    /// </summary>
    private async Task<WriteSummary> WriteChunkAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, WritePlan plan, WriteTicket? ticket, List<RefRow> refs, CancellationToken cancellationToken)
    {
        // The probe for stored documents is skipped while the previous batch found none (a first ingest: a stored
        // one makes the COPY fail, and the batch takes the staging path) or mostly stored ones (a re-run: every
        // document is staged). Only the cost depends on this, never the result.
        await InsertNewAsync(conn, tx, plan, _nextPath, ticket, cancellationToken).ConfigureAwait(false);
        var storedCount = 0;
        for (var i = 0; i < plan.Count; i++)
        {
            storedCount += plan.Inserted[i] ? 0 : 1;
        }

        _nextPath = storedCount == 0 ? InsertPath.Copy : storedCount * 2 >= plan.Count ? InsertPath.Stage : InsertPath.Probe;

        // Stored by a transaction that committed while the insert ran: not in its snapshot, so read them now.
        List<int>? late = null;
        for (var i = 0; i < plan.Count; i++)
        {
            if (!plan.Inserted[i] && plan.Stored[i] is null)
            {
                (late ??= []).Add(i);
            }
        }

        if (late is not null)
        {
            await ReadStoredAsync(conn, tx, plan, late, forUpdate: false, cancellationToken).ConfigureAwait(false);
        }

        // Documents whose content differs from the stored one are re-read under a row lock, so two writers
        // replacing the same document do it one after the other and each compares with what the other wrote.
        List<int>? changing = null;
        for (var i = 0; i < plan.Count; i++)
        {
            if (!plan.Inserted[i] && plan.Apply(i, plan.Stored[i]).Changes > 0)
            {
                (changing ??= []).Add(i);
            }
        }

        if (changing is not null)
        {
            await ReadStoredAsync(conn, tx, plan, changing, forUpdate: true, cancellationToken).ConfigureAwait(false);
        }

        int inserted = 0, duplicates = 0, updated = 0;
        var toInsert = new List<Row>(plan.Count);
        var toReplace = new List<Row>();
        for (var i = 0; i < plan.Count; i++)
        {
            var versions = plan.VersionCount(i);
            if (plan.Inserted[i])
            {
                // Inserted directly with the version that would end up stored; the later versions of the batch
                // count as they would written one by one.
                var (changes, _) = plan.Apply(i, null);
                inserted++;
                updated += changes;
                duplicates += versions - 1 - changes;
                toInsert.Add(new Row(plan.WhenNewDocument(i), plan.Seq[i], i));
            }
            else
            {
                var (changes, last) = plan.Apply(i, plan.Stored[i]);
                updated += changes;
                duplicates += versions - changes;
                if (changes > 0)
                {
                    toReplace.Add(new Row(plan.Version(i, last).Doc, plan.Seq[i], i));
                }
            }
        }

        // Every document whose index rows are written: the new ones, then the replaced ones.
        var toIndex = toReplace.Count == 0 ? toInsert : [.. toInsert, .. toReplace];
        await using (var write = new NpgsqlBatch(conn, tx))
        {
            AddReplacements(write, toReplace, _orgNumbers);
            var identity = new List<ArchiveDocument>();
            foreach (var row in toIndex)
            {
                if (row.Doc.IsUser || row.Doc.IsOrg)
                {
                    identity.Add(row.Doc);
                }
            }

            AddIdentityRows(write, identity);
            if (write.BatchCommands.Count > 0)
            {
                await write.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        // After the old rows of replaced documents are gone (above): every row copied here or at the finish is new.
        // Rows derived from a document are only written by the transaction that inserted or replaced it (the instance
        // row is locked meanwhile), so plain COPY needs no conflict handling.
        await CopyEventsAsync(conn, plan, toInsert, _orgNumbers, cancellationToken).ConfigureAwait(false);
        await CopySessionLinksAsync(conn, plan, toIndex, cancellationToken).ConfigureAwait(false);
        AddEventRefs(plan, toIndex, _orgNumbers, refs);
        return new WriteSummary(inserted, duplicates, updated);
    }

    /// <summary>
    /// Ends the transaction of <see cref="WriteChunkAsync"/>: copies the reference rows, and commits (in a sequence,
    /// after the earlier writes ended).
    /// </summary>
    private static async Task FinishAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, List<RefRow> refs, WriteSummary summary, WriteTicket? ticket, CancellationToken cancellationToken)
    {
        await CopyEventRefsAsync(conn, refs, cancellationToken).ConfigureAwait(false);

        // In a sequence, the earlier writes end first. Only then is the version row locked: an earlier write still
        // running would wait for it while this one waits for that write.
        if (ticket is not null)
        {
            await ticket.BeforeCommitAsync(conn, tx, cancellationToken).ConfigureAwait(false);
        }

        if (summary.Inserted + summary.Updated > 0)
        {
            await using var bump = new NpgsqlCommand("UPDATE archive_version SET version = version + 1 WHERE id = 1;", conn, tx);
            await bump.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Copies the (seq, hash, itype, sub_type, doc) rows of documents <paramref name="indexes"/> of the batch with
    /// <paramref name="copyCommand"/>. The stored text goes packed (<see cref="PackedDocumentText"/>) as the parse stage
    /// made it, never decoded into a string and encoded again.
    /// </summary>
    private static async Task CopyDocumentsAsync(NpgsqlConnection conn, string copyCommand, WritePlan plan, IEnumerable<int> indexes, CancellationToken ct)
    {
        await using var copy = await BinaryCopyRows.BeginAsync(conn, copyCommand, ct).ConfigureAwait(false);
        foreach (var i in indexes)
        {
            var doc = plan.WhenNewDocument(i);
            await copy.StartRowAsync(5, ct).ConfigureAwait(false);
            copy.Int64(plan.Seq[i]);
            copy.Bytes(plan.Hash(i).Span);
            copy.Text(doc.Itype);
            copy.Text(doc.SubType);
            copy.Bytes(doc.StoredPacked.Span);
        }

        await copy.CompleteAsync(ct).ConfigureAwait(false);
    }

    /// <summary>A document to store or replace: the version written, its instance seq and its place in the plan.</summary>
    private readonly record struct Row(ArchiveDocument Doc, long Seq, int Index);

    /// <summary>The owners of events of <paramref name="plan"/> without a number in the cache, or null.</summary>
    private SortedSet<string>? MissingOrgs(WritePlan plan)
    {
        // Events of one owner come in runs: a repeat of the last owner checked needs no look-up.
        SortedSet<string>? missing = null;
        string? known = null;
        foreach (var doc in plan.Documents)
        {
            var org = doc.OrgId ?? string.Empty;
            if (doc.Itype == "event" && org != known)
            {
                if (!_orgNumbers.ContainsKey(org))
                {
                    (missing ??= new SortedSet<string>(StringComparer.Ordinal)).Add(org);
                }

                known = org;
            }
        }

        return missing;
    }

    /// <summary>
    /// Makes sure the orgid of every event of <paramref name="plan"/> has its event_orgs number in the cache, creating
    /// the missing ones (in their own implicit transaction, committed at once).
    /// </summary>
    private async Task NumberOrgsAsync(NpgsqlConnection conn, WritePlan plan, CancellationToken ct)
    {
        if (MissingOrgs(plan) is { } missing)
        {
            await NumberOrgsAsync(conn, missing, ct).ConfigureAwait(false);
        }
    }

    private async Task NumberOrgsAsync(NpgsqlConnection conn, SortedSet<string> missing, CancellationToken ct)
    {
        // Two statements: the SELECT takes a new snapshot, so it also sees a number another writer committed while
        // the INSERT waited for it.
        await using var cmd = new NpgsqlBatch(conn)
        {
            BatchCommands =
            {
                Command("INSERT INTO event_orgs (orgid) SELECT o FROM unnest($1) AS u (o) ORDER BY o ON CONFLICT (orgid) DO NOTHING;", Array(NpgsqlDbType.Text, missing)),
                Command("SELECT orgid, id FROM event_orgs WHERE orgid = ANY($1);", Array(NpgsqlDbType.Text, missing)),
            },
        };
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            _orgNumbers[r.GetString(0)] = r.GetInt32(1);
        }
    }

    /// <summary>
    /// Stores the documents of <paramref name="plan"/> not stored yet, and finds the stored ones: fills
    /// <see cref="WritePlan.Seq"/> and <see cref="WritePlan.Inserted"/> for every document, and
    /// <see cref="WritePlan.Stored"/> for the stored ones it could read (a stored text equal to the one sent does not
    /// travel back; null: stored by a transaction that committed meanwhile, to be read again).
    /// </summary>
    /// <remarks>
    /// One round trip draws the seq values (one per distinct document in batch order, i.e. first-stored order; a
    /// document found stored burns its value, gaps are harmless) and, on <see cref="InsertPath.Probe"/>, finds which
    /// hashes are stored already, by primary-key probes. On <see cref="InsertPath.Stage"/> every document takes the
    /// general path (<see cref="StageAndInsertAsync"/>). The others go by binary COPY straight into <c>instances</c>,
    /// sorted by hash, so their texts cross to the server once and nothing is staged. If one of them is stored after
    /// all (not probed, or stored by a concurrent writer after the probe), the COPY fails on the primary key (after
    /// waiting for that writer's commit), the transaction returns to the savepoint taken before it, and the whole batch
    /// takes the general path (<see cref="StageAndInsertAsync"/>), as do the documents found stored.
    /// </remarks>
    private static async Task InsertNewAsync(NpgsqlConnection conn, NpgsqlTransaction tx, WritePlan plan, InsertPath path, WriteTicket? ticket, CancellationToken ct)
    {
        var n = plan.Count;
        var probe = path == InsertPath.Probe;
        var exists = new bool[n];
        await using (var prepare = new NpgsqlBatch(conn, tx))
        {
            prepare.BatchCommands.Add(Command("SELECT nextval('instance_seq') FROM generate_series(1, $1);", new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = n }));
            if (ticket is not null)
            {
                // The transaction's own lock, held until it ends, named by the last seq value drawn (unique in the
                // database): the next write of the sequence waits for it before it commits.
                prepare.BatchCommands.Add(new NpgsqlBatchCommand("SELECT currval('instance_seq'), pg_advisory_xact_lock(currval('instance_seq'));"));
            }

            if (probe)
            {
                // A LATERAL subquery with LIMIT, which the planner cannot turn into a join: with statistics taken while
                // the table was small, a join hashed the whole instances table for every batch.
                prepare.BatchCommands.Add(Command(
                    "SELECT g.i FROM generate_series(0, $2 - 1) AS g (i) " +
                    "CROSS JOIN LATERAL (SELECT FROM instances WHERE hash = substring($1 FROM g.i * 32 + 1 FOR 32) LIMIT 1) AS x;",
                    new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bytea, Value = plan.HashBytes },
                    new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = n }));
            }

            if (path != InsertPath.Stage)
            {
                prepare.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT ingest_copy;"));
            }

            await using var read = await prepare.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var drawn = 0;
            while (await read.ReadAsync(ct).ConfigureAwait(false))
            {
                plan.Seq[drawn++] = read.GetInt64(0);
            }

            if (drawn != n)
            {
                throw new InvalidOperationException($"drew {drawn} seq values for {n} documents");
            }

            if (ticket is not null)
            {
                await read.NextResultAsync(ct).ConfigureAwait(false);
                await read.ReadAsync(ct).ConfigureAwait(false);
                ticket.SetLock(read.GetInt64(0));
            }

            if (probe)
            {
                await read.NextResultAsync(ct).ConfigureAwait(false);
                while (await read.ReadAsync(ct).ConfigureAwait(false))
                {
                    exists[read.GetInt32(0)] = true;
                }
            }
        }

        if (path == InsertPath.Stage)
        {
            await StageAndInsertAsync(conn, tx, plan, plan.ByHash, ct).ConfigureAwait(false);
            return;
        }

        var fresh = new List<int>(n);
        var known = new List<int>();
        foreach (var i in plan.ByHash)
        {
            (exists[i] ? known : fresh).Add(i);
        }

        if (fresh.Count > 0)
        {
            try
            {
                await CopyDocumentsAsync(conn, "COPY instances (seq, hash, itype, sub_type, doc) FROM STDIN (FORMAT BINARY);", plan, fresh, ct).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                await using (var back = new NpgsqlCommand("ROLLBACK TO SAVEPOINT ingest_copy;", conn, tx))
                {
                    await back.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await StageAndInsertAsync(conn, tx, plan, plan.ByHash, ct).ConfigureAwait(false);
                return;
            }

            foreach (var i in fresh)
            {
                plan.Inserted[i] = true;
            }
        }

        if (known.Count > 0)
        {
            await StageAndInsertAsync(conn, tx, plan, known, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The general path of <see cref="InsertNewAsync"/> for the documents <paramref name="indexes"/> (in hash order):
    /// inserts the ones not stored and, in the same statement, reads the stored ones.
    /// </summary>
    private static async Task StageAndInsertAsync(NpgsqlConnection conn, NpgsqlTransaction tx, WritePlan plan, IReadOnlyList<int> indexes, CancellationToken ct)
    {
        // The documents go to a session-local table by binary COPY, sorted by hash; it empties itself at commit, and
        // is emptied here for the next chunk of a transaction that takes several.
        await using (var create = new NpgsqlCommand(
            "CREATE TEMP TABLE IF NOT EXISTS ingest_documents (seq bigint NOT NULL, hash bytea NOT NULL, itype text NOT NULL, sub_type text NOT NULL, doc bytea NOT NULL) ON COMMIT DELETE ROWS; " +
            "TRUNCATE ingest_documents;",
            conn,
            tx))
        {
            await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        var bySeq = new Dictionary<long, int>(indexes.Count);
        foreach (var i in indexes)
        {
            bySeq[plan.Seq[i]] = i;
        }

        await CopyDocumentsAsync(conn, "COPY ingest_documents (seq, hash, itype, sub_type, doc) FROM STDIN (FORMAT BINARY);", plan, indexes, ct).ConfigureAwait(false);

        // Rows are inserted in hash order so that concurrent batches sharing documents (hub attributes) wait on each
        // other in one order and cannot deadlock (the rows arrive sorted; the sort only makes it certain). Only the
        // documents not inserted are then looked up: the final SELECT sees the table as it was when the statement
        // began, so a look-up of an inserted one would find nothing (but still cost an index descent and a heap
        // visit). The look-up is a LATERAL subquery with LIMIT, which the planner cannot turn into a join. Rows are
        // named by the seq drawn for them (unique in the batch).
        await using var cmd = new NpgsqlCommand(
            "WITH ins AS (INSERT INTO instances (seq, hash, itype, sub_type, doc) SELECT seq, hash, itype, sub_type, doc FROM ingest_documents ORDER BY hash " +
            "ON CONFLICT (hash) DO NOTHING RETURNING seq) " +
            "SELECT true, seq, NULL::bigint, NULL::bytea FROM ins " +
            "UNION ALL SELECT false, b.seq, x.seq, CASE WHEN x.doc = b.doc THEN NULL ELSE x.doc END FROM ingest_documents b " +
            "CROSS JOIN LATERAL (SELECT hash, seq, doc FROM instances WHERE instances.hash = b.hash LIMIT 1) AS x " +
            "WHERE NOT EXISTS (SELECT FROM ins WHERE ins.seq = b.seq);",
            conn,
            tx);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var i = bySeq[r.GetInt64(1)];
            if (r.GetBoolean(0))
            {
                plan.Inserted[i] = true;
            }
            else
            {
                plan.Seq[i] = r.GetInt64(2);
                plan.Stored[i] = r.IsDBNull(3) ? plan.WhenNew(i).Text : PackedDocumentText.Unpack(r.GetFieldValue<byte[]>(3));
            }
        }
    }

    /// <summary>Reads the stored seq and text of the documents <paramref name="indexes"/> into the plan.</summary>
    private static async Task ReadStoredAsync(NpgsqlConnection conn, NpgsqlTransaction tx, WritePlan plan, List<int> indexes, bool forUpdate, CancellationToken ct)
    {
        var byHash = new Dictionary<InstanceHash, int>(indexes.Count);
        foreach (var i in indexes)
        {
            byHash[plan.Key(i)] = i;
        }

        await using var cmd = new NpgsqlCommand(
            "SELECT hash, seq, doc FROM instances WHERE hash = ANY($1) ORDER BY hash" + (forUpdate ? " FOR UPDATE;" : ";"),
            conn,
            tx);
        cmd.Parameters.Add(Array(NpgsqlDbType.Bytea, indexes.Select(i => plan.Key(i).ToBytes())));
        var found = 0;
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var i = byHash[InstanceHash.FromBytes(r.GetFieldValue<byte[]>(0))];
                plan.Seq[i] = r.GetInt64(1);
                plan.Stored[i] = PackedDocumentText.Unpack(r.GetFieldValue<byte[]>(2));
                found++;
            }
        }

        // A document missing here was neither inserted nor stored: impossible while instances rows are never deleted.
        if (found != indexes.Count)
        {
            throw new InvalidOperationException($"{indexes.Count - found} instances were neither inserted nor found");
        }
    }

    /// <summary>
    /// Replaces the document text, drops the index rows derived from the old content and updates the events rows (new
    /// reference and session rows are copied afterwards).
    /// </summary>
    private static void AddReplacements(NpgsqlBatch batch, List<Row> docs, IReadOnlyDictionary<string, int> orgNumbers)
    {
        if (docs.Count == 0)
        {
            return;
        }

        var hashes = docs.Select(d => d.Doc.HashBytes.ToArray()).ToList();
        batch.BatchCommands.Add(Command(
            "UPDATE instances SET doc = u.d FROM unnest($1, $2) AS u (h, d) WHERE instances.hash = u.h;",
            Array(NpgsqlDbType.Bytea, hashes),
            Array(NpgsqlDbType.Bytea, docs.Select(d => d.Doc.StoredPacked.ToArray()))));
        // The old reference rows, found by primary key from the event row still holding the old content (refs, org,
        // ts): no secondary index on the largest table, and each delete goes to one shard when distributed.
        batch.BatchCommands.Add(Command(
            "DELETE FROM event_refs r USING events e, generate_series(0, length(e.refs) / 32 - 1) AS g (i) " +
            "WHERE e.hash = ANY($1) AND r.ref_hash = substring(e.refs FROM g.i * 32 + 1 FOR 32) AND r.org = e.org AND r.ts = e.ts AND r.event_seq = e.seq;",
            Array(NpgsqlDbType.Bytea, hashes)));
        batch.BatchCommands.Add(Command("DELETE FROM session_events WHERE session_hash = ANY($1);", Array(NpgsqlDbType.Bytea, hashes)));
        var events = docs.Where(d => d.Doc.Itype == "event").ToList();
        if (events.Count > 0)
        {
            // A replaced event keeps its row (and seq); only the mutable fields change.
            batch.BatchCommands.Add(Command(
                "UPDATE events SET org = u.o, ts = u.t, category = u.c, refs = u.r FROM unnest($1, $2, $3, $4, $5) AS u (h, o, t, c, r) WHERE events.hash = u.h;",
                Array(NpgsqlDbType.Bytea, events.Select(e => e.Doc.HashBytes.ToArray())),
                Array(NpgsqlDbType.Integer, events.Select(e => orgNumbers[e.Doc.OrgId ?? string.Empty])),
                Array(NpgsqlDbType.Double, events.Select(e => e.Doc.Timestamp ?? 0)),
                Array(NpgsqlDbType.Text, events.Select(e => e.Doc.Category ?? "unknown")),
                Array(NpgsqlDbType.Bytea, events.Select(e => e.Doc.RefHashBytes.ToArray()))));
        }
    }

    /// <summary>Derives users, orgs and memberships from the new or replaced documents.</summary>
    private static void AddIdentityRows(NpgsqlBatch batch, List<ArchiveDocument> docs)
    {
        var users = docs.Where(d => d.IsUser).Select(IdentityDocuments.User).ToList();
        if (users.Count > 0)
        {
            batch.BatchCommands.Add(Command(
                "INSERT INTO users (hash, email, name, sub_type) SELECT * FROM unnest($1, $2, $3, $4) " +
                "ON CONFLICT (hash) DO UPDATE SET email = excluded.email, name = excluded.name, sub_type = excluded.sub_type;",
                Array(NpgsqlDbType.Bytea, users.Select(u => u.Hash.ToBytes())),
                Array(NpgsqlDbType.Text, users.Select(u => u.Email)),
                Array(NpgsqlDbType.Text, users.Select(u => u.Name)),
                Array(NpgsqlDbType.Text, users.Select(u => u.SubType))));
        }

        var orgs = docs.Where(d => d.IsOrg).Select(IdentityDocuments.Org).ToList();
        if (orgs.Count > 0)
        {
            var orgHashes = orgs.Select(o => o.Hash.ToBytes()).ToList();
            batch.BatchCommands.Add(Command(
                "INSERT INTO orgs (hash, orgname, name) SELECT * FROM unnest($1, $2, $3) ON CONFLICT (hash) DO UPDATE SET orgname = excluded.orgname, name = excluded.name;",
                Array(NpgsqlDbType.Bytea, orgHashes),
                Array(NpgsqlDbType.Text, orgs.Select(o => o.OrgName)),
                Array(NpgsqlDbType.Text, orgs.Select(o => o.Name))));
            batch.BatchCommands.Add(Command("DELETE FROM org_members WHERE org_hash = ANY($1);", Array(NpgsqlDbType.Bytea, orgHashes)));
            var members = orgs.SelectMany(o => o.Users.Select(u => (User: u, Role: (short)0, Org: o.Hash)).Concat(o.Admins.Select(u => (User: u, Role: (short)1, Org: o.Hash)))).ToList();
            if (members.Count > 0)
            {
                batch.BatchCommands.Add(Command(
                    "INSERT INTO org_members (user_hash, role, org_hash) SELECT * FROM unnest($1, $2, $3) ON CONFLICT DO NOTHING;",
                    Array(NpgsqlDbType.Bytea, members.Select(m => m.User.ToBytes())),
                    Array(NpgsqlDbType.Smallint, members.Select(m => m.Role)),
                    Array(NpgsqlDbType.Bytea, members.Select(m => m.Org.ToBytes()))));
            }
        }
    }

    /// <summary>Copies the events rows of newly stored events (binary COPY, in hash order: the primary key's order).</summary>
    private static async Task CopyEventsAsync(NpgsqlConnection conn, WritePlan plan, List<Row> docs, IReadOnlyDictionary<string, int> orgNumbers, CancellationToken ct)
    {
        var events = new List<Row>();
        foreach (var row in docs)
        {
            if (row.Doc.Itype == "event")
            {
                events.Add(row);
            }
        }

        if (events.Count == 0)
        {
            return;
        }

        events.Sort((x, y) => plan.CompareHashes(x.Index, y.Index));

        // Each event's references are decoded straight into its refs field.
        await using var copy = await BinaryCopyRows.BeginAsync(conn, "COPY events (hash, seq, org, ts, category, refs) FROM STDIN (FORMAT BINARY);", ct).ConfigureAwait(false);
        foreach (var (doc, seq, index) in events)
        {
            await copy.StartRowAsync(6, ct).ConfigureAwait(false);
            copy.Bytes(plan.Hash(index).Span);
            copy.Int64(seq);
            copy.Int32(orgNumbers[doc.OrgId ?? string.Empty]);
            copy.Float8(doc.Timestamp ?? 0);
            copy.Text(doc.Category ?? "unknown");
            doc.RefHashBytes.CopyTo(copy.Bytes(doc.RefHashBytes.Length));
        }

        await copy.CompleteAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Copies the session_events rows of new or replaced sessions (their old rows are gone).</summary>
    private static async Task CopySessionLinksAsync(NpgsqlConnection conn, WritePlan plan, List<Row> docs, CancellationToken ct)
    {
        var links = new List<(HashKey Event, int Session, long Seq)>();
        foreach (var row in docs)
        {
            if (row.Doc.Itype == "session")
            {
                var events = row.Doc.RefHashBytes;
                for (var at = 0; at < events.Length; at += HashBytes)
                {
                    links.Add((HashKey.Of(events.Slice(at, HashBytes)), row.Index, row.Seq));
                }
            }
        }

        if (links.Count == 0)
        {
            return;
        }

        // The primary key's order: event, then session (then seq).
        links.Sort((x, y) =>
        {
            var c = x.Event.CompareTo(y.Event);
            if (c == 0)
            {
                c = plan.CompareHashes(x.Session, y.Session);
            }

            return c != 0 ? c : x.Seq.CompareTo(y.Seq);
        });
        var eventBytes = new byte[links.Count * HashBytes];
        await using var copy = await conn.BeginBinaryImportAsync("COPY session_events (event_hash, session_hash, session_seq) FROM STDIN (FORMAT BINARY);", ct).ConfigureAwait(false);
        for (var i = 0; i < links.Count; i++)
        {
            var (e, session, seq) = links[i];
            var eventHash = eventBytes.AsMemory(i * HashBytes, HashBytes);
            e.CopyTo(eventHash.Span);
            await copy.StartRowAsync(ct).ConfigureAwait(false);
            await copy.WriteAsync((ReadOnlyMemory<byte>)eventHash, NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
            await copy.WriteAsync(plan.Hash(session), NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
            await copy.WriteAsync(seq, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
        }

        await copy.CompleteAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Adds the event_refs rows of the new or replaced events among <paramref name="docs"/> to <paramref name="rows"/>.</summary>
    private static void AddEventRefs(WritePlan plan, List<Row> docs, IReadOnlyDictionary<string, int> orgNumbers, List<RefRow> rows)
    {
        foreach (var (doc, seq, index) in docs)
        {
            if (doc.Itype != "event")
            {
                continue;
            }

            var org = orgNumbers[doc.OrgId ?? string.Empty];
            var ts = doc.Timestamp ?? 0;
            var category = EventCategoryCode.Of(doc.Category);
            var eventHash = HashKey.Of(plan.Hash(index).Span);
            var refs = doc.RefHashBytes;
            var contexts = doc.RefContexts;
            for (var i = 0; i < contexts.Length; i++)
            {
                rows.Add(new RefRow(HashKey.Of(refs.Slice(i * HashBytes, HashBytes)), org, ts, seq, contexts[i], category, eventHash));
            }
        }
    }

    /// <summary>
    /// Copies <paramref name="rows"/> into event_refs (binary COPY), sorted in the primary key's order so that rows
    /// landing on the same index page arrive together.
    /// </summary>
    private static async Task CopyEventRefsAsync(NpgsqlConnection conn, List<RefRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0)
        {
            return;
        }

        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(rows).Sort();
        await using var copy = await BinaryCopyRows.BeginAsync(
            conn, "COPY event_refs (ref_hash, org, ts, event_seq, ctx, category, event_hash) FROM STDIN (FORMAT BINARY);", ct).ConfigureAwait(false);
        foreach (var row in rows)
        {
            await copy.StartRowAsync(7, ct).ConfigureAwait(false);
            row.Ref.CopyTo(copy.Bytes(HashBytes));
            copy.Int32(row.Org);
            copy.Float8(row.Ts);
            copy.Int64(row.EventSeq);
            copy.Int16(row.Ctx);
            copy.Int16(row.Category);
            row.Event.CopyTo(copy.Bytes(HashBytes));
        }

        await copy.CompleteAsync(ct).ConfigureAwait(false);
    }

    /// <summary>An event_refs row; ordered as the primary key (ref_hash, org, ts, event_seq).</summary>
    private readonly record struct RefRow(HashKey Ref, int Org, double Ts, long EventSeq, short Ctx, short Category, HashKey Event) : IComparable<RefRow>
    {
        public int CompareTo(RefRow other)
        {
            var c = Ref.CompareTo(other.Ref);
            if (c != 0)
            {
                return c;
            }

            c = Org.CompareTo(other.Org);
            if (c != 0)
            {
                return c;
            }

            c = Ts.CompareTo(other.Ts);
            return c != 0 ? c : EventSeq.CompareTo(other.EventSeq);
        }
    }

    /// <summary>
    /// The 32 bytes of a hash as two big-endian numbers: compares as the bytes do (and as the lowercase hex text does),
    /// without a string or an array.
    /// </summary>
    private readonly record struct HashKey(UInt128 High, UInt128 Low) : IComparable<HashKey>
    {
        public static HashKey Of(ReadOnlySpan<byte> bytes) =>
            new(System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes), System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(bytes[16..HashBytes]));

        public void CopyTo(Span<byte> destination)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(destination, High);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128BigEndian(destination[16..], Low);
        }

        public int CompareTo(HashKey other)
        {
            var c = High.CompareTo(other.High);
            return c != 0 ? c : Low.CompareTo(other.Low);
        }
    }

    public Task<long> CountDanglingReferencesAsync(CancellationToken cancellationToken) =>
        ScalarAsync("SELECT count(*) FROM event_refs r WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.hash = r.ref_hash);", null, cancellationToken);

    public Task<IReadOnlyDictionary<string, long>> CountByItypeAsync(CancellationToken cancellationToken) => store.RunAsync<IReadOnlyDictionary<string, long>>(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT itype, count(*) FROM instances GROUP BY itype;", conn);
            var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                result[r.GetString(0)] = r.GetInt64(1);
            }

            return result;
        },
        cancellationToken);

    public async Task<long> CountEventsAsync(InstanceHash instance, EventFilter filter, Visibility visibility, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty)
        {
            return 0;
        }

        var (where, bind) = RefFilter(instance, filter, visibility);
        var count = new PendingCount($"SELECT count(*) FROM event_refs WHERE {where};", bind);
        bool start;
        lock (_countsLock)
        {
            start = _countBatchesRunning < MaxCountBatches;
            if (start)
            {
                _countBatchesRunning++;
            }
            else
            {
                _countsQueued.Add(count);
            }
        }

        if (start)
        {
            _ = RunCountBatchesAsync([count]);
        }

        // The caller may stop waiting; the statement still runs with its batch (the others need its round trip).
        return await count.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Round trips of counts that may be in flight at once (each on its own connection).</summary>
    private const int MaxCountBatches = 2;

    private readonly Lock _countsLock = new();
    private readonly List<PendingCount> _countsQueued = [];
    private int _countBatchesRunning;

    /// <summary>A count waiting for its round trip.</summary>
    private sealed class PendingCount(string sql, Action<NpgsqlParameterCollection> bind)
    {
        public string Sql { get; } = sql;

        public Action<NpgsqlParameterCollection> Bind { get; } = bind;

        public TaskCompletionSource<long> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Counts are the whole store work of most reports, and a report worker computes several at once. A count that
    /// finds fewer than <see cref="MaxCountBatches"/> round trips of counts in flight is sent at once, alone (an idle
    /// service adds no latency); the counts that arrive while they are in flight wait and are then sent together, one
    /// <see cref="NpgsqlBatch"/> of separate statements on one connection, each answered to its own caller. Under
    /// load this saves a round trip, a connection use and the client's and server's per-message work per count. A
    /// batch that fails is retried statement by statement, so each caller gets its own answer or error.
    /// </summary>
    private async Task RunCountBatchesAsync(List<PendingCount> counts)
    {
        while (true)
        {
            await RunCountBatchAsync(counts).ConfigureAwait(false);
            lock (_countsLock)
            {
                if (_countsQueued.Count == 0)
                {
                    _countBatchesRunning--;
                    return;
                }

                counts = [.. _countsQueued];
                _countsQueued.Clear();
            }
        }
    }

    private async Task RunCountBatchAsync(List<PendingCount> counts)
    {
        try
        {
            var results = await store.RunAsync(
                async conn =>
                {
                    await using var batch = new NpgsqlBatch(conn);
                    foreach (var c in counts)
                    {
                        var cmd = new NpgsqlBatchCommand(c.Sql);
                        c.Bind(cmd.Parameters);
                        batch.BatchCommands.Add(cmd);
                    }

                    var values = new long[counts.Count];
                    await using var r = await batch.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
                    for (var i = 0; i < values.Length; i++)
                    {
                        if (i > 0)
                        {
                            await r.NextResultAsync(CancellationToken.None).ConfigureAwait(false);
                        }

                        await r.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                        values[i] = r.GetInt64(0);
                    }

                    return values;
                },
                CancellationToken.None).ConfigureAwait(false);
            for (var i = 0; i < counts.Count; i++)
            {
                counts[i].Result.TrySetResult(results[i]);
            }
        }
        catch (Exception) when (counts.Count > 1)
        {
            foreach (var c in counts)
            {
                try
                {
                    c.Result.TrySetResult(await ScalarAsync(c.Sql, c.Bind, CancellationToken.None).ConfigureAwait(false));
                }
                catch (Exception single)
                {
                    c.Result.TrySetException(single);
                }
            }
        }
        catch (Exception e)
        {
            counts[0].Result.TrySetException(e);
        }
    }

    public async Task<IReadOnlyList<BucketCount>> CountEventsByBucketAsync(InstanceHash instance, EventFilter filter, Visibility visibility, double origin, double bucketSeconds, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty)
        {
            return [];
        }

        var (where, bind) = RefFilter(instance, filter, visibility);
        return await store.RunAsync<IReadOnlyList<BucketCount>>(
            async conn =>
            {
                // trunc: the bucket index rounds toward zero, as the SQLite store's CAST(… AS INTEGER) does.
                await using var cmd = new NpgsqlCommand($"SELECT trunc((ts - @origin) / @width)::bigint AS b, count(*) FROM event_refs WHERE {where} GROUP BY b ORDER BY b;", conn);
                bind(cmd.Parameters);
                cmd.Parameters.AddWithValue("origin", NpgsqlDbType.Double, origin);
                cmd.Parameters.AddWithValue("width", NpgsqlDbType.Double, bucketSeconds);
                var result = new List<BucketCount>();
                await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    result.Add(new BucketCount(origin + (r.GetInt64(0) * bucketSeconds), r.GetInt64(1)));
                }

                return result;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<(double First, double Last)?> EventTimeSpanAsync(InstanceHash instance, EventFilter filter, Visibility visibility, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty)
        {
            return null;
        }

        var (where, bind) = RefFilter(instance, filter, visibility);
        return await store.RunAsync<(double, double)?>(
            async conn =>
            {
                await using var cmd = new NpgsqlCommand($"SELECT min(ts), max(ts) FROM event_refs WHERE {where};", conn);
                bind(cmd.Parameters);
                await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await r.ReadAsync(cancellationToken).ConfigureAwait(false);
                return r.IsDBNull(0) ? null : (r.GetDouble(0), r.GetDouble(1));
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<InstanceHash>> PageEventsAsync(InstanceHash instance, EventFilter filter, Visibility visibility, int skip, int take, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty || take <= 0)
        {
            return [];
        }

        var (where, bind) = RefFilter(instance, filter, visibility);
        return await store.RunAsync(
            async conn =>
            {
                // The page is cut from the primary key alone (an index-only scan: org, ts and seq are key columns), and only
                // its rows are then read for the event hash, by primary key. Selecting event_hash in the scan read the
                // heap row of every reference of the attribute first: 2,267 of them, 358 ms, for a page of 10 in a
                // 1M-event archive. Both steps read the attribute's rows only (one shard under Citus).
                await using var cmd = new NpgsqlCommand(
                    $"SELECT r.event_hash FROM (SELECT org, ts, event_seq FROM event_refs WHERE {where} ORDER BY event_seq LIMIT @take OFFSET @skip) p " +
                    "JOIN event_refs r ON r.ref_hash = @ref AND r.org = p.org AND r.ts = p.ts AND r.event_seq = p.event_seq ORDER BY p.event_seq;",
                    conn);
                bind(cmd.Parameters);
                cmd.Parameters.AddWithValue("take", NpgsqlDbType.Integer, take);
                cmd.Parameters.AddWithValue("skip", NpgsqlDbType.Integer, Math.Max(0, skip));
                return await ReadHashesAsync(cmd, cancellationToken).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ArchiveDocument>> GetDocumentsAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken)
    {
        if (hashes.Count == 0)
        {
            return [];
        }

        return await store.RunAsync<IReadOnlyList<ArchiveDocument>>(
            async conn =>
            {
                await using var cmd = new NpgsqlCommand("SELECT doc FROM instances WHERE hash = ANY($1) ORDER BY seq;", conn);
                cmd.Parameters.Add(Array(NpgsqlDbType.Bytea, hashes.Distinct().Select(h => h.ToBytes())));
                var result = new List<ArchiveDocument>(hashes.Count);
                await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    result.Add(StoredDocumentText.Parse(PackedDocumentText.Unpack(r.GetFieldValue<byte[]>(0))));
                }

                return result;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public Task<IReadOnlyList<InstanceHash>> SessionsOfEventAsync(InstanceHash eventHash, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT session_hash FROM session_events WHERE event_hash = $1 ORDER BY session_seq;", conn);
            cmd.Parameters.AddWithValue(eventHash.ToBytes());
            return await ReadHashesAsync(cmd, cancellationToken).ConfigureAwait(false);
        },
        cancellationToken);

    public async Task<IReadOnlyList<InstanceHash>> EventsOfSessionAsync(InstanceHash session, Visibility visibility, int take, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty || take <= 0)
        {
            return [];
        }

        return await store.RunAsync(
            async conn =>
            {
                await using var cmd = new NpgsqlCommand(
                    "SELECT e.hash FROM session_events se JOIN events e ON e.hash = se.event_hash " +
                    $"WHERE se.session_hash = $1 AND e.org = ANY({VisibleOrgs("$2")}) ORDER BY e.ts, e.seq LIMIT $3;",
                    conn);
                cmd.Parameters.AddWithValue(session.ToBytes());
                cmd.Parameters.Add(Array(NpgsqlDbType.Text, visibility.OrgIds));
                cmd.Parameters.AddWithValue(take);
                return await ReadHashesAsync(cmd, cancellationToken).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<EventEdges> VisibleEventsAsync(Visibility visibility, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty)
        {
            yield break;
        }

        // Events in first-stored order with their packed references, read through a cursor a chunk at a time; between
        // chunks, the referenced hashes not met before are looked up at once on the same connection, to keep only
        // stored attributes (objects are not graph nodes, missing documents are unknown). The connection is held until
        // the caller finishes or abandons the enumeration.
        const int chunk = 2000;
        await using var conn = await Guard(() => store.OpenConnectionAsync(cancellationToken)).ConfigureAwait(false);
        await using var tx = await Guard(() => conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken).AsTask()).ConfigureAwait(false);
        await using (var declare = new NpgsqlCommand(
            $"DECLARE visible_events NO SCROLL CURSOR FOR SELECT hash, ts, category, refs FROM events WHERE org = ANY({VisibleOrgs("$1")}) ORDER BY seq;",
            conn,
            tx))
        {
            declare.Parameters.Add(Array(NpgsqlDbType.Text, visibility.OrgIds));
            await Guard(() => declare.ExecuteNonQueryAsync(cancellationToken)).ConfigureAwait(false);
        }

        var isAttribute = new Dictionary<InstanceHash, bool>();
        while (true)
        {
            var pending = new List<(InstanceHash Hash, double Ts, string Category, byte[] Refs)>(chunk);
            await using (var fetch = new NpgsqlCommand($"FETCH {chunk} FROM visible_events;", conn, tx))
            await using (var r = await Guard(() => fetch.ExecuteReaderAsync(cancellationToken)).ConfigureAwait(false))
            {
                while (await Guard(() => r.ReadAsync(cancellationToken)).ConfigureAwait(false))
                {
                    pending.Add((InstanceHash.FromBytes(r.GetFieldValue<byte[]>(0)), r.GetDouble(1), r.GetString(2), r.GetFieldValue<byte[]>(3)));
                }
            }

            if (pending.Count == 0)
            {
                break;
            }

            // Only hashes not met in an earlier chunk are looked up: hub attributes appear in many chunks.
            var unknown = new HashSet<InstanceHash>();
            foreach (var e in pending)
            {
                for (var i = 0; i + HashBytes <= e.Refs.Length; i += HashBytes)
                {
                    var h = InstanceHash.FromBytes(e.Refs.AsSpan(i, HashBytes));
                    if (!isAttribute.ContainsKey(h))
                    {
                        unknown.Add(h);
                    }
                }
            }

            if (unknown.Count > 0)
            {
                await using var look = new NpgsqlCommand("SELECT hash FROM instances WHERE hash = ANY($1) AND itype = 'attribute';", conn, tx);
                look.Parameters.Add(Array(NpgsqlDbType.Bytea, unknown.Select(h => h.ToBytes())));
                var attributes = (await Guard(() => ReadHashesAsync(look, cancellationToken)).ConfigureAwait(false)).ToHashSet();
                foreach (var h in unknown)
                {
                    isAttribute[h] = attributes.Contains(h);
                }
            }

            foreach (var e in pending)
            {
                var edges = System.Collections.Immutable.ImmutableArray.CreateBuilder<InstanceHash>(e.Refs.Length / HashBytes);
                for (var i = 0; i + HashBytes <= e.Refs.Length; i += HashBytes)
                {
                    var h = InstanceHash.FromBytes(e.Refs.AsSpan(i, HashBytes));
                    if (isAttribute[h])
                    {
                        edges.Add(h);
                    }
                }

                yield return new EventEdges(e.Hash, e.Ts, e.Category, edges.ToImmutable());
            }

            if (pending.Count < chunk)
            {
                break;
            }
        }
    }

    public async Task<IReadOnlySet<InstanceHash>> AttributesAmongAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken)
    {
        if (hashes.Count == 0)
        {
            return new HashSet<InstanceHash>();
        }

        return await store.RunAsync<IReadOnlySet<InstanceHash>>(
            async conn =>
            {
                await using var cmd = new NpgsqlCommand("SELECT hash FROM instances WHERE hash = ANY($1) AND itype = 'attribute';", conn);
                cmd.Parameters.Add(Array(NpgsqlDbType.Bytea, hashes.Distinct().Select(h => h.ToBytes())));
                return (await ReadHashesAsync(cmd, cancellationToken).ConfigureAwait(false)).ToHashSet();
            },
            cancellationToken).ConfigureAwait(false);
    }

    public Task<long> VersionAsync(CancellationToken cancellationToken) =>
        ScalarAsync("SELECT version FROM archive_version WHERE id = 1;", null, cancellationToken);

    /// <summary>The condition on event_refs for one referenced hash, the visible orgs and the filter (named parameters).</summary>
    private static (string Where, Action<NpgsqlParameterCollection> Bind) RefFilter(InstanceHash instance, EventFilter filter, Visibility visibility)
    {
        // The visible orgs' numbers as an array computed once (an InitPlan): the lookup stays an index range scan of the
        // primary key (ref_hash, org, ts, event_seq) per org.
        var sb = new StringBuilder("ref_hash = @ref AND org = ANY(" + VisibleOrgs("@orgs") + ")");
        var lower = !double.IsNegativeInfinity(filter.Lower);
        var upper = !double.IsPositiveInfinity(filter.Upper);
        if (lower)
        {
            sb.Append(" AND ts >= @lo");
        }

        if (upper)
        {
            sb.Append(" AND ts <= @hi");
        }

        if (filter.Category is not null)
        {
            sb.Append(" AND category = @cat");
        }

        short ctx = filter.Context switch
        {
            EventContext.Benign => EventRefContext.Benign,
            EventContext.Malicious => EventRefContext.Malicious,
            EventContext.Unknown => EventRefContext.None,
            _ => -1,
        };
        if (ctx >= 0)
        {
            sb.Append(" AND ctx = @ctx");
        }

        return (sb.ToString(), parameters =>
        {
            parameters.AddWithValue("ref", NpgsqlDbType.Bytea, instance.ToBytes());
            parameters.AddWithValue("orgs", NpgsqlDbType.Array | NpgsqlDbType.Text, visibility.OrgIds.ToArray());
            if (lower)
            {
                parameters.AddWithValue("lo", NpgsqlDbType.Double, filter.Lower);
            }

            if (upper)
            {
                parameters.AddWithValue("hi", NpgsqlDbType.Double, filter.Upper);
            }

            if (filter.Category is not null)
            {
                parameters.AddWithValue("cat", NpgsqlDbType.Smallint, EventCategoryCode.Of(filter.Category));
            }

            if (ctx >= 0)
            {
                parameters.AddWithValue("ctx", NpgsqlDbType.Smallint, ctx);
            }
        });
    }

    /// <summary>SQL for the event_orgs numbers of the orgids in the text array <paramref name="parameter"/>, as an array.</summary>
    private static string VisibleOrgs(string parameter) => $"ARRAY(SELECT id FROM event_orgs WHERE orgid = ANY({parameter}))";

    private Task<long> ScalarAsync(string sql, Action<NpgsqlParameterCollection>? bind, CancellationToken ct) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand(sql, conn);
            bind?.Invoke(cmd.Parameters);
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        },
        ct);

    private static async Task<IReadOnlyList<InstanceHash>> ReadHashesAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var result = new List<InstanceHash>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(InstanceHash.FromBytes(r.GetFieldValue<byte[]>(0)));
        }

        return result;
    }

    /// <summary>Runs one step of a streaming read or of a write, turning a lost server into <see cref="StoreUnavailableException"/>.</summary>
    private async Task<T> Guard<T>(Func<Task<T>> step)
    {
        try
        {
            return await step().ConfigureAwait(false);
        }
        catch (Exception e) when (PostgresStore.IsUnavailable(e))
        {
            throw store.Unavailable(e);
        }
    }

    private static System.Collections.Immutable.ImmutableArray<InstanceHash> UnpackRefs(byte[] packed)
    {
        var refs = new InstanceHash[packed.Length / HashBytes];
        for (var i = 0; i < refs.Length; i++)
        {
            refs[i] = InstanceHash.FromBytes(packed.AsSpan(i * HashBytes, HashBytes));
        }

        return [.. refs];
    }

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var cmd = new NpgsqlBatchCommand(sql);
        cmd.Parameters.AddRange(parameters);
        return cmd;
    }

    private static NpgsqlParameter Array<T>(NpgsqlDbType type, IEnumerable<T> values) =>
        new() { NpgsqlDbType = NpgsqlDbType.Array | type, Value = values.ToArray() };

    /// <summary>
    /// A sequence of write transactions whose commits overlap (<see cref="IArchiveWriteSequence"/>), with the result of
    /// committing them one by one in the order their commits were called.
    /// </summary>
    /// <remarks>
    /// Each write is a transaction on its own connection, and holds a <see cref="WriteTicket"/> taken when it is given
    /// its first documents (or, without any, when its commit is called). A write writes each chunk of documents as it
    /// is given (<see cref="OrderedWrite.AddAsync"/>), one chunk at a time, except for the reference rows, which it
    /// copies at the commit. The order is kept by five rules:
    /// <list type="number">
    /// <item>A write draws its seq values (and numbers its new orgs) only after the previous write drew all of its own
    /// (its commit was called and its chunks are written), so the first-stored order and the org numbers are those of
    /// a sequential ingest.</item>
    /// <item>A chunk sharing a document with an earlier write still running, or holding identity documents, is written
    /// only after the earlier writes ended: it then finds what they stored ("later content wins", and the inserted /
    /// duplicate / updated counts are those of one writer). Apart from that, two writes of the sequence touch no row
    /// in common until the archive version (rule 4), so neither waits for the other inside the server.</item>
    /// <item>A write inserts and locks its documents (<c>instances</c> rows) only after the previous write did all of
    /// that. Only there does a transaction wait for other writers' rows, each chunk in hash order, so the writes of a
    /// sequence wait for another process's writers as one writer does, without adding a cycle of waits; the rest of
    /// a write (its reference rows, which no other writer touches, and its commit) overlaps the next write.</item>
    /// <item>Before it commits, a write waits for the previous one to end: first inside the server, on the previous
    /// transaction's advisory lock (a wait the server's deadlock detector sees, should a writer of another process wait
    /// for this one meanwhile), then for its outcome. Only then does it lock the archive version row and commit. So
    /// the writes commit in order.</item>
    /// <item>A write commits only if the previous one did: after a failure the committed writes are the ones before
    /// it, as with one writer, and a re-run completes the store.</item>
    /// </list>
    /// </remarks>
    private sealed class OrderedWrites(PostgresArchive archive) : IArchiveWriteSequence
    {
        private readonly Lock _lock = new();
        private readonly Stack<List<RefRow>> _refLists = new();
        private WriteTicket? _last;

        public int CommitsInFlight => 2;

        public Task<IArchiveWrite> BeginWriteAsync(CancellationToken cancellationToken) => Task.FromResult<IArchiveWrite>(new OrderedWrite(archive, this));

        /// <summary>
        /// A list for a write's reference rows. The lists are kept for the next writes of the sequence: a write's rows
        /// take megabytes, and a new list each time would be a new large-object array for the GC at every growth.
        /// </summary>
        public List<RefRow> RentRefList()
        {
            lock (_lock)
            {
                return _refLists.TryPop(out var list) ? list : [];
            }
        }

        public void ReturnRefList(List<RefRow> list)
        {
            list.Clear();
            lock (_lock)
            {
                _refLists.Push(list);
            }
        }

        /// <summary>Takes the next place in the sequence (at once, so the order is the order of the calls).</summary>
        public WriteTicket NextTicket()
        {
            lock (_lock)
            {
                var ticket = new WriteTicket(_last);
                _last = ticket;
                return ticket;
            }
        }
    }

    /// <summary>
    /// One transaction of an <see cref="OrderedWrites"/> sequence: each chunk of documents is written when given (after
    /// the previous chunk, in the background, so the caller prepares the next one meanwhile); the reference rows are
    /// kept and copied at the commit.
    /// </summary>
    private sealed class OrderedWrite(PostgresArchive archive, OrderedWrites sequence) : IArchiveWrite
    {
        private readonly List<RefRow> _refs = sequence.RentRefList();
        private WriteTicket? _ticket;
        private NpgsqlConnection? _conn;
        private NpgsqlTransaction? _tx;
        private Task _written = Task.CompletedTask;
        private int _inserted, _duplicates, _updated;
        private bool _ended;

        public async Task AddAsync(IReadOnlyList<ArchiveDocument> documents, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(documents);
            if (_ended)
            {
                throw new InvalidOperationException("the write has ended");
            }

            if (documents.Count == 0)
            {
                return;
            }

            var ticket = _ticket ??= sequence.NextTicket();
            var plan = WritePlan.Of(documents);
            var keys = plan.KeySet();
            ticket.AddKeys(keys);

            // One chunk at a time: this one starts once the previous one is written (and fails with it).
            var previous = _written;
            await previous.ConfigureAwait(false);
            _written = WriteChunkAsync(ticket, plan, keys, first: _conn is null, cancellationToken);
        }

        public async Task<WriteSummary> CommitAsync(CancellationToken cancellationToken)
        {
            if (_ended)
            {
                throw new InvalidOperationException("the write has ended");
            }

            var ticket = _ticket ??= sequence.NextTicket();
            var committed = false;
            try
            {
                await _written.ConfigureAwait(false);
                ticket.Written();
                var summary = new WriteSummary(_inserted, _duplicates, _updated);
                if (_tx is not null)
                {
                    await archive.Guard(async () =>
                    {
                        await FinishAsync(_conn!, _tx, _refs, summary, ticket, cancellationToken).ConfigureAwait(false);
                        return true;
                    }).ConfigureAwait(false);
                }

                committed = true;
                return summary;
            }
            finally
            {
                await EndAsync(committed).ConfigureAwait(false);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_ended)
            {
                return;
            }

            try
            {
                await _written.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Its failure is the caller's to report (it came out of AddAsync or CommitAsync, or the caller stopped).
            }

            await EndAsync(committed: false).ConfigureAwait(false);
        }

        private async Task WriteChunkAsync(WriteTicket ticket, WritePlan plan, HashSet<HashKey> keys, bool first, CancellationToken ct)
        {
            await ticket.BeforeChunkAsync(keys, plan.HasIdentity, first, ct).ConfigureAwait(false);
            await archive.Guard(async () =>
            {
                if (_conn is null)
                {
                    _conn = await archive.Store.OpenConnectionAsync(ct).ConfigureAwait(false);
                }

                if (_tx is null)
                {
                    // Numbers for the chunk's event owners are committed before the transaction begins; later chunks
                    // take theirs on a connection of their own (an unused number is harmless, and the cache only ever
                    // holds committed ones).
                    await archive.NumberOrgsAsync(_conn, plan, ct).ConfigureAwait(false);
                    _tx = await _conn.BeginTransactionAsync(ct).ConfigureAwait(false);
                }
                else if (archive.MissingOrgs(plan) is { } missing)
                {
                    await archive.Store.RunAsync(async c =>
                    {
                        await archive.NumberOrgsAsync(c, missing, ct).ConfigureAwait(false);
                        return true;
                    }, ct).ConfigureAwait(false);
                }

                var summary = await archive.WriteChunkAsync(_conn, _tx, plan, ticket, _refs, ct).ConfigureAwait(false);
                _inserted += summary.Inserted;
                _duplicates += summary.Duplicates;
                _updated += summary.Updated;
                return true;
            }).ConfigureAwait(false);
        }

        /// <summary>Ends the transaction (rolled back unless committed) and the write's place in the sequence.</summary>
        private async Task EndAsync(bool committed)
        {
            _ended = true;
            sequence.ReturnRefList(_refs);
            try
            {
                if (_tx is not null)
                {
                    await _tx.DisposeAsync().ConfigureAwait(false);
                }

                if (_conn is not null)
                {
                    await _conn.DisposeAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                if (_ticket is { } ticket)
                {
                    await ticket.EndAsync(committed).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>A write's place in an <see cref="OrderedWrites"/> sequence: what the next write waits for.</summary>
    private sealed class WriteTicket(WriteTicket? previous)
    {
        private readonly Lock _keysLock = new();
        private readonly TaskCompletionSource _written = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<bool> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The previous write, until this one ends (the chain is cut there: every write before an ended one has ended).</summary>
        private WriteTicket? _previous = previous;

        /// <summary>The hashes of the write's documents so far (a later write compares its chunks with them).</summary>
        private HashSet<HashKey>? _keys = [];

        /// <summary>The advisory lock held by the write's transaction, once taken.</summary>
        private long? _lockKey;

        private bool HasEnded => _ended.Task.IsCompleted;

        /// <summary>Adds the hashes of a chunk (before it is written).</summary>
        public void AddKeys(HashSet<HashKey> keys)
        {
            lock (_keysLock)
            {
                _keys?.UnionWith(keys);
            }
        }

        /// <summary>
        /// Waits until a chunk of this write may be written: the first only after the previous write drew its seq
        /// values and inserted its documents (rules 1 and 3); any chunk sharing a document with an earlier write still
        /// running, or holding identity documents, only after every earlier write ended (rule 2).
        /// </summary>
        public async Task BeforeChunkAsync(HashSet<HashKey> keys, bool identity, bool first, CancellationToken ct)
        {
            var previous = _previous;
            if (previous is null)
            {
                return;
            }

            if (identity || SharesWithRunning(previous, keys))
            {
                await ThrowIfFailedAsync(previous, ct).ConfigureAwait(false);
            }
            else if (first)
            {
                await previous._written.Task.WaitAsync(ct).ConfigureAwait(false);
                if (previous.HasEnded && !previous._ended.Task.Result)
                {
                    throw EarlierFailed();
                }
            }
        }

        /// <summary>The transaction holds its advisory lock (named <paramref name="key"/>), which the next write waits for before it commits.</summary>
        public void SetLock(long key) => _lockKey = key;

        /// <summary>Every chunk of the write is written (its seq values drawn, its documents inserted and locked): the next write may start.</summary>
        public void Written() => _written.TrySetResult();

        /// <summary>Waits until the previous write ended, and fails if it did not commit (rules 4 and 5).</summary>
        public async Task BeforeCommitAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
        {
            var previous = _previous;
            if (previous is null)
            {
                return;
            }

            if (!previous.HasEnded && previous._lockKey is { } key)
            {
                await using var wait = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1);", conn, tx);
                wait.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bigint, Value = key });
                await wait.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await ThrowIfFailedAsync(previous, ct).ConfigureAwait(false);
        }

        /// <summary>
        /// Ends the write once the previous one ended (so writes end in order), releasing a next write that waits.
        /// This transaction has ended already: it holds nothing an earlier write could wait for.
        /// </summary>
        public async Task EndAsync(bool committed)
        {
            _written.TrySetResult();
            if (_previous is { } previous)
            {
                await previous._ended.Task.ConfigureAwait(false);
            }

            _previous = null;
            lock (_keysLock)
            {
                _keys = null;
            }

            _ended.TrySetResult(committed);
        }

        private static async Task ThrowIfFailedAsync(WriteTicket previous, CancellationToken ct)
        {
            if (!await previous._ended.Task.WaitAsync(ct).ConfigureAwait(false))
            {
                throw EarlierFailed();
            }
        }

        private static InvalidOperationException EarlierFailed() =>
            new("an earlier transaction of this ingest failed, so this one was not committed");

        /// <summary>True when an earlier write still running holds one of <paramref name="keys"/>.</summary>
        private static bool SharesWithRunning(WriteTicket previous, HashSet<HashKey> keys)
        {
            for (var t = previous; t is not null && !t.HasEnded; t = t._previous)
            {
                lock (t._keysLock)
                {
                    if (t._keys is { } theirs && theirs.Overlaps(keys))
                    {
                        return true;
                    }
                }
            }

            return false;
        }
    }

    /// <summary>
    /// A batch grouped by hash: the distinct hashes in first-seen order (a document's index) and, for each, its versions
    /// in batch order with their stored text; the raw hashes, their order, and what the write found per document.
    /// </summary>
    private sealed class WritePlan
    {
        private readonly List<Entry> _entries = [];
        private HashKey[] _keys = [];

        public int Count => _entries.Count;

        /// <summary>The 32-byte hashes, concatenated in index order.</summary>
        public byte[] HashBytes { get; private set; } = [];

        /// <summary>The indexes in hash order.</summary>
        public int[] ByHash { get; private set; } = [];

        /// <summary>Per document: the seq drawn for it, or its stored seq once found stored.</summary>
        public long[] Seq { get; private set; } = [];

        /// <summary>Per document: inserted by this write.</summary>
        public bool[] Inserted { get; private set; } = [];

        /// <summary>Per document found stored: the stored text (null: not read yet).</summary>
        public string?[] Stored { get; private set; } = [];

        /// <summary>The batch as given.</summary>
        public IReadOnlyList<ArchiveDocument> Documents { get; private set; } = [];

        /// <summary>The batch holds a user or org document (they derive identity rows).</summary>
        public bool HasIdentity { get; private set; }

        public static WritePlan Of(IReadOnlyList<ArchiveDocument> batch)
        {
            // A copy of the list: a write of a sequence writes the chunk in the background, while the caller refills it.
            var plan = new WritePlan { Documents = [.. batch] };
            var index = new Dictionary<InstanceHash, int>(batch.Count);
            foreach (var doc in batch)
            {
                if (index.TryGetValue(doc.Hash, out var i))
                {
                    var entry = plan._entries[i];
                    (entry.More ??= []).Add((doc, StoredDocumentText.Of(doc)));
                }
                else
                {
                    index[doc.Hash] = plan._entries.Count;
                    plan._entries.Add(new Entry(doc));
                }

                plan.HasIdentity |= doc.IsUser || doc.IsOrg;
            }

            var n = plan._entries.Count;
            plan.HashBytes = new byte[n * PostgresArchive.HashBytes];
            plan._keys = new HashKey[n];
            plan.ByHash = new int[n];
            for (var i = 0; i < n; i++)
            {
                var key = HashKey.Of(plan._entries[i].First.HashBytes);
                key.CopyTo(plan.HashBytes.AsSpan(i * PostgresArchive.HashBytes, PostgresArchive.HashBytes));
                plan._keys[i] = key;
                plan.ByHash[i] = i;
            }

            var keys = plan._keys;
            System.Array.Sort(plan.ByHash, (x, y) => keys[x].CompareTo(keys[y]));
            plan.Seq = new long[n];
            plan.Inserted = new bool[n];
            plan.Stored = new string?[n];
            return plan;
        }

        /// <summary>The hash of document <paramref name="i"/>.</summary>
        public InstanceHash Key(int i) => _entries[i].First.Hash;

        /// <summary>The hashes of the batch, as a set.</summary>
        public HashSet<HashKey> KeySet() => [.. _keys];

        /// <summary>The raw hash of document <paramref name="i"/>, a slice of <see cref="HashBytes"/>.</summary>
        public ReadOnlyMemory<byte> Hash(int i) => HashBytes.AsMemory(i * PostgresArchive.HashBytes, PostgresArchive.HashBytes);

        public int CompareHashes(int x, int y) => _keys[x].CompareTo(_keys[y]);

        public int VersionCount(int i) => 1 + (_entries[i].More?.Count ?? 0);

        public (ArchiveDocument Doc, string Text) Version(int i, int v)
        {
            var entry = _entries[i];
            return v == 0 ? (entry.First, entry.FirstText) : entry.More![v - 1];
        }

        /// <summary>The version of document <paramref name="i"/> stored when it is new, without its text.</summary>
        public ArchiveDocument WhenNewDocument(int i)
        {
            var entry = _entries[i];
            if (entry.More is null)
            {
                return entry.First;
            }

            var v = Apply(i, null).Last;
            return v == 0 ? entry.First : entry.More[v - 1].Doc;
        }

        /// <summary>
        /// Writes the versions of document <paramref name="i"/> one by one over <paramref name="stored"/> (null: the
        /// first version is the insert): how many replace content, and which version ends up stored (-1: the stored
        /// text stays).
        /// </summary>
        public (int Changes, int Last) Apply(int i, string? stored)
        {
            var count = VersionCount(i);
            var last = stored is null ? 0 : -1;
            var current = stored ?? _entries[i].FirstText;
            var changes = 0;
            for (var v = stored is null ? 1 : 0; v < count; v++)
            {
                // A version with the same content is a duplicate and leaves the stored text as it is.
                var text = Version(i, v).Text;
                if (!StoredDocumentText.SameContent(current, text))
                {
                    changes++;
                    last = v;
                    current = text;
                }
            }

            return (changes, last);
        }

        /// <summary>The version stored when document <paramref name="i"/> is new.</summary>
        public (ArchiveDocument Doc, string Text) WhenNew(int i) =>
            _entries[i].More is null ? (_entries[i].First, _entries[i].FirstText) : Version(i, Apply(i, null).Last);

        private sealed class Entry(ArchiveDocument first)
        {
            private string? _firstText;

            public ArchiveDocument First { get; } = first;

            /// <summary>The first version's stored text, made when first needed (a new document never needs it).</summary>
            public string FirstText => _firstText ??= StoredDocumentText.Of(First);

            public List<(ArchiveDocument Doc, string Text)>? More { get; set; }
        }
    }
}
