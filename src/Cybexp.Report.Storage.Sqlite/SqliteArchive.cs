using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Sqlite;

/// <summary>The archive in SQLite: documents, the event/reference index, sessions and identity tables.</summary>
internal sealed class SqliteArchive(SqliteStore store) : IArchiveStore
{
    /// <summary>
    /// Settings of a writing connection: a 64 MiB page cache (negative: KiB), and no automatic checkpoint: the WAL is
    /// copied into the file by <see cref="Checkpointer"/>, beside the writer. The WAL is not memory (only its index,
    /// 32 KiB per 4096 pages, is mapped), but during an ingest it takes up to about
    /// <see cref="WalCheckpointer.DefaultRestartBytes"/> of disk beside the file.
    /// </summary>
    private const string WriteCachePragma = "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=0;";

    /// <summary>SQLite's own checkpoint setting, given back to a writing connection when its transaction ends.</summary>
    private const string DefaultCheckpointPragma = "PRAGMA wal_autocheckpoint=1000;";

    /// <summary>Checkpoints the WAL beside the writer (the writing connection does not: see <see cref="WriteCachePragma"/>).</summary>
    internal WalCheckpointer Checkpointer { get; } = new(store);

    /// <summary>
    /// Rows per multi-row INSERT of event_refs / session_events (7 and 2 parameters per row). These statements are bound
    /// by position on the SQLite handle (<see cref="RawStatement"/>), so a statement's cost does not grow with the
    /// square of its parameters as binding by name did (SQLite finds a name by a linear search).
    /// </summary>
    private const int RowsPerInsert = 32;

    private const int HashBytes = 32;

    /// <summary>Reference rows from which a transaction's rows are sorted in two parts at once (see <c>Writer.SortRefs</c>).</summary>
    private const int ParallelSortRows = 20_000;

    /// <summary>
    /// Runs of one level merged at once (see <c>Writer.Compact</c>): a row is rewritten once per level it climbs, and
    /// a lookup reads up to <c>MergeFanIn - 1</c> runs per level. With 4, the merges of a 1M-event ingest took 5.3 s of
    /// the writer's CPU (most rows rewritten twice); with 8, 3.5 s (once), for up to 7 runs per level instead of 3.
    /// </summary>
    internal const int DefaultMergeFanIn = 8;

    /// <summary>Runs of one level merged at once: a power of two, <see cref="DefaultMergeFanIn"/> unless a test sets it.</summary>
    internal int MergeFanIn
    {
        get;
        set => field = value >= 2 && System.Numerics.BitOperations.IsPow2(value) ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "a power of two, at least 2");
    } = DefaultMergeFanIn;

    /// <summary>The table (event_refs_0 or event_refs_1, migration 0008) that a transaction's new run is written to.</summary>
    private const int FreshRunTable = 0;

    /// <summary>Buffers of the last write transaction, for the next one (null while one is in use: a concurrent one makes its own).</summary>
    private WriteBuffers? _spareBuffers;

    private WriteBuffers TakeBuffers() => Interlocked.Exchange(ref _spareBuffers, null) ?? new WriteBuffers();

    /// <summary>orgid → event_orgs.id of committed rows (numbers are never changed or reused, so they can be cached).</summary>
    private readonly ConcurrentDictionary<string, long> _orgNumbers = new(StringComparer.Ordinal);

    /// <summary>
    /// Documents per transaction for an ingest: chunks are written into the open transaction as they come (see
    /// <see cref="BeginWriteAsync"/>), so a transaction's size costs no memory beyond its index rows (≈ 100 bytes per
    /// reference), and a large one pays for each index page it dirties once instead of once per 2,000 documents.
    /// 80,000 rather than 40,000: a transaction dirties nearly every page of the instances hash indexes (53 MB at 1M
    /// events then, 29 MB since migration 0010) whatever its size, and each commit leaves a run of reference rows to
    /// merge; at 1M events an ingest took 16.9–17.4 s against 18.0 s, at a peak 20–30 MB higher (the reference rows
    /// held until the commit).
    /// </summary>
    public int PreferredTransactionSize => 80_000;

    public async Task<WriteSummary> WriteAsync(IReadOnlyList<ArchiveDocument> batch, CancellationToken cancellationToken)
    {
        await using var write = await BeginWriteAsync(cancellationToken).ConfigureAwait(false);
        await write.AddAsync(batch, cancellationToken).ConfigureAwait(false);
        return await write.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// One transaction on its own connection. Each chunk's documents (instances, events) are written at once; the
    /// reference and session index rows are collected and inserted at commit in key order, so that neighbouring keys
    /// share B-tree pages however many chunks the transaction took.
    /// </summary>
    public async Task<IArchiveWrite> BeginWriteAsync(CancellationToken cancellationToken)
    {
        var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Inserts land at random places in the hash-keyed indexes of instances: with SQLite's
            // default 2 MiB page cache nearly every insert re-reads pages from the OS. A larger cache on the writing
            // connection (the pool keeps it with the connection) keeps the index pages of a batch in memory. See
            // WriteCachePragma.
            await SqliteStore.ExecAsync(conn, WriteCachePragma, cancellationToken).ConfigureAwait(false);
            await Checkpointer.BeforeWriteAsync(cancellationToken).ConfigureAwait(false);
            PagesWritten(conn);
            var tx = (SqliteTransaction)await conn.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            return new Write(this, conn, tx);
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The pages <paramref name="conn"/> wrote to the WAL since the last call (SQLITE_DBSTATUS_CACHE_WRITE, reset).</summary>
    private static long PagesWritten(SqliteConnection conn)
    {
        const int CacheWrite = 9;
        return SQLitePCL.raw.sqlite3_db_status(conn.Handle, CacheWrite, out var pages, out _, 1) == SQLitePCL.raw.SQLITE_OK ? pages : 0;
    }

    private sealed class Write(SqliteArchive archive, SqliteConnection conn, SqliteTransaction tx) : IArchiveWrite
    {
        private readonly Writer _writer = new(conn, tx, archive._orgNumbers, archive.MergeFanIn, archive.TakeBuffers());
        private int _inserted, _duplicates, _updated;
        private bool _ended;

        public Task AddAsync(IReadOnlyList<ArchiveDocument> documents, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(documents);
            ObjectDisposedException.ThrowIf(_ended, this);

            // Microsoft.Data.Sqlite runs every statement synchronously (its async methods wrap the sync ones), so the
            // per-row statements run as plain calls; cancellation is checked per document.
            var (inserted, duplicates, updated) = _writer.Write(documents, cancellationToken);
            _inserted += inserted;
            _duplicates += duplicates;
            _updated += updated;
            return Task.CompletedTask;
        }

        /// <inheritdoc/>
        public bool WorkWhileIdle()
        {
            ObjectDisposedException.ThrowIf(_ended, this);
            return _writer.WorkWhileIdle();
        }

        public async Task<WriteSummary> CommitAsync(CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(_ended, this);
            _writer.Finish(_inserted + _updated > 0, cancellationToken);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            _ended = true;
            archive.Checkpointer.Committed(PagesWritten(conn));
            foreach (var (orgid, id) in _writer.NewOrgs)
            {
                archive._orgNumbers.TryAdd(orgid, id);
            }

            return new WriteSummary(_inserted, _duplicates, _updated);
        }

        public async ValueTask DisposeAsync()
        {
            _ended = true;
            _writer.Dispose();
            archive._spareBuffers = _writer.ReleaseBuffers();
            await tx.DisposeAsync().ConfigureAwait(false);
            try
            {
                // The pool keeps the connection with its settings: it checkpoints by itself again when used elsewhere.
                await SqliteStore.ExecAsync(conn, DefaultCheckpointPragma, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                await conn.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <remarks>
    /// The rows are counted per run and referenced hash (a scan in primary-key order, no sort), and each such group
    /// looks its hash up once: at 1M events 0.5 s instead of 1.4 s with a look-up per row, at the end of every ingest.
    /// </remarks>
    public async Task<long> CountDanglingReferencesAsync(CancellationToken cancellationToken) =>
        await ScalarAsync(DanglingReferencesSql, null, cancellationToken).ConfigureAwait(false);

    internal static readonly string DanglingReferencesSql =
        "SELECT coalesce(sum(n), 0) FROM ("
        + "SELECT ref_hash, count(*) AS n FROM event_refs_0 GROUP BY run, ref_hash"
        + " UNION ALL SELECT ref_hash, count(*) AS n FROM event_refs_1 GROUP BY run, ref_hash"
        + ") AS g WHERE " + NotStored("g.ref_hash") + ";";

    public async Task<IReadOnlyDictionary<string, long>> CountByItypeAsync(CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT itype, count(*) FROM instances GROUP BY itype ORDER BY itype;";
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result[r.GetString(0)] = r.GetInt64(1);
        }

        return result;
    }

    public async Task<long> CountEventsAsync(InstanceHash instance, EventFilter filter, Visibility visibility, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty)
        {
            return 0;
        }

        var (where, bind) = RefFilter(instance, filter, visibility);
        return await ScalarAsync($"SELECT (SELECT count(*) FROM event_refs_0 WHERE {where(0)}) + (SELECT count(*) FROM event_refs_1 WHERE {where(1)});", bind, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<BucketCount>> CountEventsByBucketAsync(InstanceHash instance, EventFilter filter, Visibility visibility, double origin, double bucketSeconds, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty)
        {
            return [];
        }

        var (where, bind) = RefFilter(instance, filter, visibility);
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        // Each table's buckets, added up here: the tables are read by their primary keys, not through the view.
        const string bucket = "CAST((ts - $origin) / $width AS INTEGER)";
        cmd.CommandText = $"SELECT {bucket} AS b, count(*) FROM event_refs_0 WHERE {where(0)} GROUP BY b UNION ALL SELECT {bucket} AS b, count(*) FROM event_refs_1 WHERE {where(1)} GROUP BY b;";
        bind(cmd);
        cmd.Parameters.AddWithValue("$origin", origin);
        cmd.Parameters.AddWithValue("$width", bucketSeconds);
        var counts = new SortedDictionary<long, long>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            counts[r.GetInt64(0)] = counts.GetValueOrDefault(r.GetInt64(0)) + r.GetInt64(1);
        }

        return [.. counts.Select(c => new BucketCount(origin + (c.Key * bucketSeconds), c.Value))];
    }

    public async Task<(double First, double Last)?> EventTimeSpanAsync(InstanceHash instance, EventFilter filter, Visibility visibility, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty)
        {
            return null;
        }

        var (where, bind) = RefFilter(instance, filter, visibility);
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT min(lo), max(hi) FROM (SELECT min(ts) AS lo, max(ts) AS hi FROM event_refs_0 WHERE {where(0)} UNION ALL SELECT min(ts), max(ts) FROM event_refs_1 WHERE {where(1)});";
        bind(cmd);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await r.ReadAsync(cancellationToken).ConfigureAwait(false);
        return r.IsDBNull(0) ? null : (r.GetDouble(0), r.GetDouble(1));
    }

    public async Task<IReadOnlyList<InstanceHash>> PageEventsAsync(InstanceHash instance, EventFilter filter, Visibility visibility, int skip, int take, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty || take <= 0)
        {
            return [];
        }

        var (where, bind) = RefFilter(instance, filter, visibility, "r.");
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        // The page is cut from the reference index alone; only its events are then looked up. (Joining first made
        // SQLite look up the events row of every reference of the attribute before sorting, a hub's 100k of them.)
        // Both tables' rows go through one sort that keeps only the page (LIMIT), as a single table's would.
        cmd.CommandText = "SELECT e.hash FROM (SELECT u.event_seq FROM ("
            + $"SELECT r.event_seq FROM event_refs_0 r WHERE {where(0)} UNION ALL SELECT r.event_seq FROM event_refs_1 r WHERE {where(1)}"
            + ") u ORDER BY u.event_seq LIMIT $take OFFSET $skip) p JOIN events e ON e.seq = p.event_seq ORDER BY p.event_seq;";
        bind(cmd);
        cmd.Parameters.AddWithValue("$take", take);
        cmd.Parameters.AddWithValue("$skip", Math.Max(0, skip));
        return await ReadHashesAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ArchiveDocument>> GetDocumentsAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken)
    {
        if (hashes.Count == 0)
        {
            return [];
        }

        // One statement per chunk of hashes (an IN list of blobs) rather than one per hash.
        const int chunk = 500;
        var result = new List<(long Seq, ArchiveDocument Doc)>(hashes.Count);
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var part in hashes.Distinct().Chunk(chunk))
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = InstancesByHash("seq, doc", BindHashes(cmd, part)) + ";";
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                result.Add((r.GetInt64(0), StoredDocumentText.Parse(PackedDocumentText.Unpack((byte[])r.GetValue(1)))));
            }
        }

        result.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        return [.. result.Select(x => x.Doc)];
    }

    public async Task<IReadOnlyList<InstanceHash>> SessionsOfEventAsync(InstanceHash eventHash, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT i.hash FROM session_events se JOIN instances i ON i.seq = se.session_seq WHERE se.event_hash = $e ORDER BY se.session_seq;";
        cmd.Parameters.AddWithValue("$e", eventHash.ToBytes());
        return await ReadHashesAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<InstanceHash>> EventsOfSessionAsync(InstanceHash session, Visibility visibility, int take, CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty || take <= 0)
        {
            return [];
        }

        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        var orgs = OrgList(cmd, visibility);
        cmd.CommandText = EventsOfSessionSql(orgs);
        cmd.Parameters.AddWithValue("$s", session.ToBytes());
        cmd.Parameters.AddWithValue("$take", take);
        return await ReadHashesAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<EventEdges> VisibleEventsAsync(Visibility visibility, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (visibility.IsEmpty)
        {
            yield break;
        }

        // Events in first-stored order with their packed references; a chunk of events at a time, whose referenced
        // hashes are then looked up at once to keep only stored attributes (objects are not graph nodes, missing
        // documents are unknown).
        const int chunk = 1000;
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        var orgs = OrgList(cmd, visibility);
        cmd.CommandText = $"SELECT hash, ts, category, refs FROM events WHERE orgid IN ({orgs}) ORDER BY seq;";
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var pending = new List<(InstanceHash Hash, double Ts, string Category, byte[] Refs)>(chunk);
        var isAttribute = new Dictionary<InstanceHash, bool>();
        var more = true;
        while (more)
        {
            more = await r.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (more)
            {
                pending.Add((InstanceHash.FromBytes((byte[])r.GetValue(0)), r.GetDouble(1), r.GetString(2), (byte[])r.GetValue(3)));
                if (pending.Count < chunk)
                {
                    continue;
                }
            }

            // Only hashes not met in an earlier chunk are looked up: hub attributes appear in many chunks, and a
            // look-up per reference (5M at 1M events) dominated the whole enumeration.
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

            var attributes = await AttributesAmongAsync(conn, unknown, cancellationToken).ConfigureAwait(false);
            foreach (var h in unknown)
            {
                isAttribute[h] = attributes.Contains(h);
            }

            foreach (var e in pending)
            {
                var edges = ImmutableArray.CreateBuilder<InstanceHash>(e.Refs.Length / HashBytes);
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

            pending.Clear();
        }
    }

    /// <summary>Binds <paramref name="hashes"/> as parameters <c>$h0</c>, <c>$h1</c>, … and returns their names.</summary>
    private static string[] BindHashes(SqliteCommand cmd, InstanceHash[] hashes)
    {
        var names = new string[hashes.Length];
        for (var i = 0; i < hashes.Length; i++)
        {
            names[i] = "$h" + i.ToString(CultureInfo.InvariantCulture);
            cmd.Parameters.AddWithValue(names[i], hashes[i].ToBytes());
        }

        return names;
    }

    /// <summary>
    /// SELECT <paramref name="columns"/> of the instances whose hash is one of the bound parameters
    /// <paramref name="names"/>, through both hash indexes (0010): the whole hash of instances other than events, the
    /// 8-byte prefix and then the whole hash of events.
    /// </summary>
    internal static string InstancesByHash(string columns, params string[] names)
    {
        var list = string.Join(", ", names);
        var prefixes = string.Join(", ", names.Select(static n => $"substr({n}, 1, 8)"));
        return $"SELECT {columns} FROM instances WHERE itype <> 'event' AND hash IN ({list})"
            + $" UNION ALL SELECT {columns} FROM instances WHERE itype = 'event' AND hash8 IN ({prefixes}) AND hash IN ({list})";
    }

    /// <summary>
    /// The condition "no instance has the hash <paramref name="hash"/>" (an SQL expression), through both hash indexes
    /// (0010). A referenced hash is nearly always an attribute or an object: the first index answers it without reading
    /// a row, and the events' index holds no entry with its prefix.
    /// </summary>
    internal static string NotStored(string hash) =>
        $"NOT EXISTS (SELECT 1 FROM instances i WHERE i.itype <> 'event' AND i.hash = {hash})"
        + $" AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.itype = 'event' AND i.hash8 = substr({hash}, 1, 8) AND i.hash = {hash})";

    /// <summary>
    /// The hashes of the events of session $s owned by one of <paramref name="orgs"/> (bound parameters), the first
    /// $take by time. events.hash has no index of its own (0006): an event is found by its hash through instances.
    /// </summary>
    internal static string EventsOfSessionSql(string orgs) =>
        "SELECT e.hash FROM instances s JOIN session_events se ON se.session_seq = s.seq"
        + " JOIN instances i ON i.itype = 'event' AND i.hash8 = substr(se.event_hash, 1, 8) AND i.hash = se.event_hash"
        + $" JOIN events e ON e.seq = i.seq WHERE s.itype <> 'event' AND s.hash = $s AND e.orgid IN ({orgs}) ORDER BY e.ts, e.seq LIMIT $take;";

    /// <summary>The attributes among the hashes <paramref name="names"/> (bound parameters), found in the index of instances other than events (0010).</summary>
    internal static string AttributesAmongSql(params string[] names) =>
        $"SELECT hash FROM instances WHERE itype <> 'event' AND hash IN ({string.Join(", ", names)}) AND itype = 'attribute';";

    /// <summary>The stored attributes among <paramref name="hashes"/>, with one IN-list statement per 500 hashes.</summary>
    private static async Task<HashSet<InstanceHash>> AttributesAmongAsync(SqliteConnection conn, IReadOnlyCollection<InstanceHash> hashes, CancellationToken ct)
    {
        const int chunk = 500;
        var result = new HashSet<InstanceHash>();
        foreach (var part in hashes.Chunk(chunk))
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = AttributesAmongSql(BindHashes(cmd, part));
            foreach (var h in await ReadHashesAsync(cmd, ct).ConfigureAwait(false))
            {
                result.Add(h);
            }
        }

        return result;
    }

    public async Task<IReadOnlySet<InstanceHash>> AttributesAmongAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await AttributesAmongAsync(conn, hashes.Distinct().ToList(), cancellationToken).ConfigureAwait(false);
    }

    public async Task<long> VersionAsync(CancellationToken cancellationToken) =>
        await ScalarAsync("SELECT version FROM archive_version WHERE id = 1;", null, cancellationToken).ConfigureAwait(false);

    private static string OrgList(SqliteCommand cmd, Visibility visibility)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < visibility.OrgIds.Length; i++)
        {
            var name = "$o" + i.ToString(CultureInfo.InvariantCulture);
            sb.Append(i == 0 ? string.Empty : ", ").Append(name);
            cmd.Parameters.AddWithValue(name, visibility.OrgIds[i]);
        }

        return sb.ToString();
    }

    /// <summary>
    /// The condition on the rows of one reference table (event_refs_0 or event_refs_1, chosen by the argument of
    /// <c>Where</c>) that <paramref name="instance"/>, <paramref name="filter"/> and <paramref name="visibility"/> ask
    /// for, and the binding of its parameters (shared by both tables' conditions). Lookups read the two tables
    /// directly rather than through the view event_refs: SQLite applies a view's conditions inside each table and
    /// then again to every row the view yields, which made a hub attribute's count ten times slower.
    /// </summary>
    private static (Func<int, string> Where, Action<SqliteCommand> Bind) RefFilter(InstanceHash instance, EventFilter filter, Visibility visibility, string alias = "")
    {
        var sb = new StringBuilder();
        // The table's live runs, and the org numbers of the visible orgs: list subqueries, so the lookup stays a range
        // scan of the primary key (run, ref_hash, org, ts, event_seq) per run and org.
        sb.Append(alias).Append("ref_hash = $ref AND ").Append(alias).Append("org IN (SELECT id FROM event_orgs WHERE orgid IN (");
        for (var i = 0; i < visibility.OrgIds.Length; i++)
        {
            sb.Append(i == 0 ? "$o" : ", $o").Append(i.ToString(CultureInfo.InvariantCulture));
        }

        sb.Append("))");
        if (!double.IsNegativeInfinity(filter.Lower))
        {
            sb.Append(" AND ").Append(alias).Append("ts >= $lo");
        }

        if (!double.IsPositiveInfinity(filter.Upper))
        {
            sb.Append(" AND ").Append(alias).Append("ts <= $hi");
        }

        if (filter.Category is not null)
        {
            sb.Append(" AND ").Append(alias).Append("category = $cat");
        }

        var ctx = filter.Context switch
        {
            EventContext.Benign => EventRefContext.Benign,
            EventContext.Malicious => EventRefContext.Malicious,
            EventContext.Unknown => EventRefContext.None,
            _ => -1,
        };
        if (ctx >= 0)
        {
            sb.Append(" AND ").Append(alias).Append("ctx = $ctx");
        }

        var rest = sb.ToString();
        return (table => string.Create(CultureInfo.InvariantCulture, $"{alias}run IN (SELECT run FROM event_ref_runs WHERE tab = {table}) AND {rest}"), cmd =>
        {
            cmd.Parameters.AddWithValue("$ref", instance.ToBytes());
            for (var i = 0; i < visibility.OrgIds.Length; i++)
            {
                cmd.Parameters.AddWithValue("$o" + i.ToString(CultureInfo.InvariantCulture), visibility.OrgIds[i]);
            }

            if (!double.IsNegativeInfinity(filter.Lower))
            {
                cmd.Parameters.AddWithValue("$lo", filter.Lower);
            }

            if (!double.IsPositiveInfinity(filter.Upper))
            {
                cmd.Parameters.AddWithValue("$hi", filter.Upper);
            }

            if (filter.Category is not null)
            {
                cmd.Parameters.AddWithValue("$cat", EventCategoryCode.Of(filter.Category));
            }

            if (ctx >= 0)
            {
                cmd.Parameters.AddWithValue("$ctx", ctx);
            }
        });
    }

    private async Task<long> ScalarAsync(string sql, Action<SqliteCommand>? bind, CancellationToken ct)
    {
        await using var conn = await store.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        bind?.Invoke(cmd);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    private static async Task<IReadOnlyList<InstanceHash>> ReadHashesAsync(SqliteCommand cmd, CancellationToken ct)
    {
        var result = new List<InstanceHash>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(InstanceHash.FromBytes((byte[])r.GetValue(0)));
        }

        return result;
    }

    /// <summary>
    /// The statements of one write transaction, prepared once and run with new parameter values per row. Index rows
    /// of the batch are collected and inserted at the end, sorted by key, several rows per statement.
    /// </summary>
    private sealed class Writer : IDisposable
    {
        private readonly SqliteConnection _conn;
        private readonly SqliteTransaction _tx;
        private readonly IReadOnlyDictionary<string, long> _committedOrgs;
        private readonly int _mergeFanIn;

        /// <summary>The merge under way in this transaction (see <see cref="WorkWhileIdle"/>), or null.</summary>
        private RunMerge? _merge;

        /// <summary>True once this transaction found no merge due (none becomes due before it writes its own run).</summary>
        private bool _nothingDue;

        /// <summary>Texts bound often, as UTF-8 (see <see cref="Label"/>).</summary>
        private readonly Dictionary<string, byte[]> _labels = new(StringComparer.Ordinal);

        private const int MaxLabels = 1024;
        private readonly List<SqliteCommand> _commands = [];
        private readonly RawStatement _insertInstance;
        private readonly RawStatement _insertEvent;
        private readonly Statement _insertEventAfter;
        private readonly Statement _selectInstance;
        private readonly Statement _updateInstance;
        private readonly Statement _selectEvent;
        private readonly Statement _deleteRef;
        private readonly Statement _deleteSessionEvents;
        private readonly RawStatement _upsertEvent;
        private readonly Statement _selectOrg;
        private readonly Statement _insertOrg;
        private readonly List<RawStatement> _raw = [];
        private readonly Dictionary<int, RawStatement> _insertRefs = [];
        private readonly Dictionary<int, RawStatement> _insertSessionEvents = [];
        private readonly WriteBuffers _buffers;
        private readonly List<RefRow> _refs;
        private readonly List<(byte[] Block, int At, long Session)> _sessionEvents;

        /// <summary>Events and sessions with rows in <see cref="_refs"/> / <see cref="_sessionEvents"/> (a replaced one drops them).</summary>
        private readonly HashSet<long> _pendingEvents;
        private readonly HashSet<long> _pendingSessions;

        public Writer(SqliteConnection conn, SqliteTransaction tx, IReadOnlyDictionary<string, long> committedOrgs, int mergeFanIn, WriteBuffers buffers)
        {
            _buffers = buffers;
            (_refs, _sessionEvents, _pendingEvents, _pendingSessions) = (buffers.Refs, buffers.SessionEvents, buffers.PendingEvents, buffers.PendingSessions);
            _conn = conn;
            _tx = tx;
            _committedOrgs = committedOrgs;
            _mergeFanIn = mergeFanIn;
            // No RETURNING: Microsoft.Data.Sqlite reads it through a data reader per document; the new seq is the
            // connection's last inserted rowid instead.
            // Instances other than events have a UNIQUE index of their hash: a stored one inserts nothing. Events have
            // one of the hash's first 8 bytes and prefix_no (0010): an event whose prefix is taken inserts nothing, and
            // is then looked up by its whole hash.
            _insertInstance = MakeRaw("INSERT INTO instances (hash, itype, sub_type, doc) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hash) WHERE itype <> 'event' DO NOTHING;");
            _insertEvent = MakeRaw("INSERT INTO instances (hash, itype, sub_type, doc) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hash8, prefix_no) WHERE itype = 'event' DO NOTHING;");
            _insertEventAfter = Make(
                "INSERT INTO instances (hash, itype, sub_type, doc, prefix_no) VALUES ($hash, 'event', $sub_type, $doc,"
                + " (SELECT max(prefix_no) + 1 FROM instances WHERE itype = 'event' AND hash8 = substr($hash, 1, 8))) RETURNING seq;",
                "$hash",
                "$sub_type",
                "$doc");
            _selectInstance = Make(InstancesByHash("seq, doc", "$hash") + ";", "$hash");
            _updateInstance = Make("UPDATE instances SET doc = $doc WHERE seq = $seq;", "$seq", "$doc");
            _selectEvent = Make("SELECT orgid, ts, refs FROM events WHERE seq = $seq;", "$seq");
            _deleteRef = Make(
                "DELETE FROM event_refs_0 WHERE run IN (SELECT run FROM event_ref_runs WHERE tab = 0) AND ref_hash = $ref AND org = $org AND ts = $ts AND event_seq = $seq;"
                + " DELETE FROM event_refs_1 WHERE run IN (SELECT run FROM event_ref_runs WHERE tab = 1) AND ref_hash = $ref AND org = $org AND ts = $ts AND event_seq = $seq;",
                "$ref",
                "$org",
                "$ts",
                "$seq");
            _deleteSessionEvents = Make("DELETE FROM session_events WHERE session_seq = $seq;", "$seq");
            _upsertEvent = MakeRaw("INSERT INTO events (seq, hash, orgid, ts, category, refs) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (seq) DO UPDATE SET orgid = excluded.orgid, ts = excluded.ts, category = excluded.category, refs = excluded.refs;");
            _selectOrg = Make("SELECT id FROM event_orgs WHERE orgid = $orgid;", "$orgid");
            _insertOrg = Make("INSERT INTO event_orgs (orgid) VALUES ($orgid) RETURNING id;", "$orgid");
        }

        /// <summary>Org numbers created by this transaction (valid once it commits).</summary>
        public Dictionary<string, long> NewOrgs { get; } = new(StringComparer.Ordinal);

        public (int Inserted, int Duplicates, int Updated) Write(IReadOnlyList<ArchiveDocument> batch, CancellationToken ct)
        {
            int inserted = 0, duplicates = 0, updated = 0;
            foreach (var doc in batch)
            {
                ct.ThrowIfCancellationRequested();
                var hash = doc.HashBytes;
                if (Insert(doc, hash, out var seq))
                {
                    inserted++;
                    Index(doc, hash, seq);
                    continue;
                }

                var text = doc.StoredText;
                _selectInstance[0] = hash.ToArray();
                string? stored = null;
                using (var r = _selectInstance.Command.ExecuteReader())
                {
                    if (r.Read())
                    {
                        seq = r.GetInt64(0);
                        stored = PackedDocumentText.Unpack((byte[])r.GetValue(1));
                    }
                }

                if (stored is null)
                {
                    // Not stored: an event whose hash shares its first 8 bytes with a stored event's (0010).
                    if (doc.Itype != "event")
                    {
                        throw new InvalidOperationException($"the {doc.Itype} {doc.Hash} was neither inserted nor found in the archive");
                    }

                    _insertEventAfter[0] = hash.ToArray();
                    _insertEventAfter[1] = doc.SubType;
                    _insertEventAfter[2] = doc.StoredPacked.ToArray();
                    seq = Convert.ToInt64(_insertEventAfter.Command.ExecuteScalar(), CultureInfo.InvariantCulture);
                    inserted++;
                }
                else if (StoredDocumentText.SameContent(stored, text))
                {
                    duplicates++;
                    continue;
                }
                else
                {
                    // Same identity, newer content: replace the document and re-derive every index row from it.
                    _updateInstance[0] = seq;
                    _updateInstance[1] = doc.StoredPacked.ToArray();
                    _updateInstance.Command.ExecuteNonQuery();
                    DeleteIndexRows(doc, seq);
                    updated++;
                }

                Index(doc, hash, seq);
            }

            return (inserted, duplicates, updated);
        }

        /// <summary>
        /// Inserts <paramref name="doc"/> into instances unless its hash is stored (an event: unless an event's hash has
        /// the same first 8 bytes): whether it did, and its new <paramref name="seq"/> (the row's rowid) when it did.
        /// </summary>
        private bool Insert(ArchiveDocument doc, ReadOnlySpan<byte> hash, out long seq)
        {
            // The conflict clause changes no row when the hash (an event: its prefix) is taken.
            var insert = doc.Itype == "event" ? _insertEvent : _insertInstance;
            insert.Blob(1, hash);
            insert.Text(2, Label(doc.Itype));
            insert.Text(3, Label(doc.SubType));
            if (insert.RunWithBlob(4, doc.StoredPacked.Span) != 1)
            {
                seq = 0;
                return false;
            }

            seq = insert.LastInsertRowId;
            return true;
        }

        /// <summary>Inserts the collected index rows, in key order and many per statement (neighbouring keys share B-tree pages).</summary>
        public void Finish(bool changed, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            if (_refs.Count > 0)
            {
                // The transaction's rows become a new run, numbered above every other and inserted in key order:
                // they are appended at the end of the tree, so the commit dirties pages in proportion to its rows.
                SortRefs();
                Compact(ct);
                var run = NextRun();
                var stored = InsertRefs(_refs, run);
                AddRun(run, stored, FreshRunTable);
            }
            else
            {
                Compact(ct);
            }

            _sessionEvents.Sort(static (a, b) => a.Block.AsSpan(a.At, HashBytes).SequenceCompareTo(b.Block.AsSpan(b.At, HashBytes)) is var c && c != 0 ? c : a.Session.CompareTo(b.Session));
            InsertRows(_sessionEvents, _insertSessionEvents, 2, "session_events (event_hash, session_seq)", static (st, i, row) =>
            {
                st.Blob(i, row.Block.AsSpan(row.At, HashBytes));
                st.Int(i + 1, row.Session);
            });
            _pendingEvents.Clear();
            _pendingSessions.Clear();

            if (changed)
            {
                using var bump = _conn.CreateCommand();
                bump.Transaction = _tx;
                bump.CommandText = "UPDATE archive_version SET version = version + 1 WHERE id = 1;";
                bump.ExecuteNonQuery();
            }
        }

        /// <summary>The buffers, emptied, go back to the archive for the next transaction (see <see cref="WriteBuffers"/>).</summary>
        public WriteBuffers ReleaseBuffers()
        {
            _buffers.Clear();
            return _buffers;
        }

        public void Dispose()
        {
            foreach (var c in _commands)
            {
                c.Dispose();
            }

            foreach (var st in _raw)
            {
                st.Dispose();
            }
        }

        /// <summary>
        /// Sorts <see cref="_refs"/> into key order. A large transaction's rows are first split by the first bit of
        /// their hash (every row of the lower part sorts before every row of the upper one), and the two parts are
        /// sorted at once, one on another thread: while the writer finishes a transaction the parse stage has filled
        /// its look-ahead and the other core is idle, so the sort costs the writer about half its time, with no merge
        /// pass and no second array. Hashes are uniform, so the parts are about even.
        /// </summary>
        private void SortRefs()
        {
            var n = _refs.Count;
            if (n < ParallelSortRows)
            {
                _refs.Sort();
                return;
            }

            const ulong UpperHalf = 1UL << 63;
            var all = CollectionsMarshal.AsSpan(_refs);
            int lower = 0, upperEnd = n - 1;
            while (true)
            {
                while (lower <= upperEnd && all[lower].H0 < UpperHalf)
                {
                    lower++;
                }

                while (lower <= upperEnd && all[upperEnd].H0 >= UpperHalf)
                {
                    upperEnd--;
                }

                if (lower >= upperEnd)
                {
                    break;
                }

                (all[lower], all[upperEnd]) = (all[upperEnd], all[lower]);
            }

            var split = lower;
            var rows = _refs;
            var upper = Task.Run(() => CollectionsMarshal.AsSpan(rows)[split..].Sort());
            CollectionsMarshal.AsSpan(rows)[..split].Sort();
            upper.GetAwaiter().GetResult();
        }

        /// <summary>Deletes the index rows derived from the stored (old) content of the document at <paramref name="seq"/>.</summary>
        private void DeleteIndexRows(ArchiveDocument doc, long seq)
        {
            if (doc.Itype == "event")
            {
                // A merge under way has copied some of the runs' rows already: it ends first, so that the deletes
                // below find every row in a registered run.
                CompleteMerge(CancellationToken.None);

                // The old rows, found by primary key from the event row still holding the old content.
                _selectEvent[0] = seq;
                string? orgid = null;
                double ts = 0;
                byte[] refs = [];
                using (var r = _selectEvent.Command.ExecuteReader())
                {
                    if (r.Read())
                    {
                        orgid = r.GetString(0);
                        ts = r.GetDouble(1);
                        refs = (byte[])r.GetValue(2);
                    }
                }

                if (orgid is not null)
                {
                    _deleteRef[1] = OrgNumber(orgid);
                    _deleteRef[2] = ts;
                    _deleteRef[3] = seq;
                    for (var i = 0; i + HashBytes <= refs.Length; i += HashBytes)
                    {
                        _deleteRef[0] = refs.AsSpan(i, HashBytes).ToArray();
                        _deleteRef.Command.ExecuteNonQuery();
                    }
                }

                // Rows of this event collected earlier in the transaction (an earlier version) are dropped too.
                if (_pendingEvents.Remove(seq))
                {
                    _refs.RemoveAll(row => row.EventSeq == seq);
                }
            }
            else if (doc.Itype == "session")
            {
                _deleteSessionEvents[0] = seq;
                _deleteSessionEvents.Command.ExecuteNonQuery();
                if (_pendingSessions.Remove(seq))
                {
                    _sessionEvents.RemoveAll(row => row.Session == seq);
                }
            }
        }

        private void Index(ArchiveDocument doc, ReadOnlySpan<byte> hash, long seq)
        {
            if (doc.Itype == "event")
            {
                var ts = doc.Timestamp ?? 0;
                var cat = doc.Category ?? "unknown";
                var orgid = doc.OrgId ?? string.Empty;
                _upsertEvent.Int(1, seq);
                _upsertEvent.Blob(2, hash);
                _upsertEvent.Text(3, Label(orgid));
                _upsertEvent.Real(4, ts);
                _upsertEvent.Text(5, Label(cat));
                _upsertEvent.RunWithBlob(6, doc.RefHashBytes);
                var org = OrgNumber(orgid);
                var catCode = EventCategoryCode.Of(cat);
                _pendingEvents.Add(seq);
                var refs = doc.RefHashBytes;
                var contexts = doc.RefContexts;
                for (var i = 0; i < contexts.Length; i++)
                {
                    _refs.Add(RefRow.Of(refs.Slice(i * HashBytes, HashBytes), org, ts, seq, contexts[i], catCode));
                }
            }
            else if (doc.Itype == "session")
            {
                _pendingSessions.Add(seq);
                // The events' hashes, copied into this transaction's hash blocks (the document's own array can go).
                var refs = doc.RefHashBytes;
                var (block, start) = _buffers.Hashes.Reserve(refs.Length / HashBytes);
                refs.CopyTo(block.AsSpan(start));
                for (var at = 0; at < refs.Length; at += HashBytes)
                {
                    _sessionEvents.Add((block, start + at, seq));
                }
            }
            else if (doc.IsUser)
            {
                var user = IdentityDocuments.User(doc);
                using var cmd = NewCommand("INSERT INTO users (hash, email, name, sub_type) VALUES ($h, $e, $n, $s) ON CONFLICT (hash) DO UPDATE SET email = excluded.email, name = excluded.name, sub_type = excluded.sub_type;");
                cmd.Parameters.AddWithValue("$h", hash.ToArray());
                cmd.Parameters.AddWithValue("$e", user.Email);
                cmd.Parameters.AddWithValue("$n", user.Name);
                cmd.Parameters.AddWithValue("$s", user.SubType);
                cmd.ExecuteNonQuery();
            }
            else if (doc.IsOrg)
            {
                var org = IdentityDocuments.Org(doc);
                using (var cmd = NewCommand("INSERT INTO orgs (hash, orgname, name) VALUES ($h, $o, $n) ON CONFLICT (hash) DO UPDATE SET orgname = excluded.orgname, name = excluded.name; DELETE FROM org_members WHERE org_hash = $h;"))
                {
                    cmd.Parameters.AddWithValue("$h", hash.ToArray());
                    cmd.Parameters.AddWithValue("$o", org.OrgName);
                    cmd.Parameters.AddWithValue("$n", org.Name);
                    cmd.ExecuteNonQuery();
                }

                using var member = NewCommand("INSERT OR IGNORE INTO org_members (user_hash, role, org_hash) VALUES ($u, $r, $o);");
                var u = member.Parameters.Add("$u", SqliteType.Blob);
                var role = member.Parameters.Add("$r", SqliteType.Integer);
                member.Parameters.AddWithValue("$o", hash.ToArray());
                foreach (var (members, r) in new[] { (org.Users, 0), (org.Admins, 1) })
                {
                    foreach (var m in members)
                    {
                        u.Value = m.ToBytes();
                        role.Value = r;
                        member.ExecuteNonQuery();
                    }
                }
            }
        }

        /// <summary>
        /// <paramref name="text"/> as UTF-8, kept for the next document while fewer than <see cref="MaxLabels"/> are kept:
        /// itype, sub_type, orgid and category take few values, each bound once per document (as a string, SQLite's
        /// binding encoded it again each time).
        /// </summary>
        private ReadOnlySpan<byte> Label(string text)
        {
            if (_labels.TryGetValue(text, out var utf8))
            {
                return utf8;
            }

            utf8 = Encoding.UTF8.GetBytes(text);
            if (_labels.Count < MaxLabels)
            {
                _labels[text] = utf8;
            }

            return utf8;
        }

        /// <summary>The number of <paramref name="orgid"/> in event_orgs, created when new.</summary>
        private long OrgNumber(string orgid)
        {
            if (_committedOrgs.TryGetValue(orgid, out var id) || NewOrgs.TryGetValue(orgid, out id))
            {
                return id;
            }

            _selectOrg[0] = orgid;
            if (_selectOrg.Command.ExecuteScalar() is long found)
            {
                id = found;
            }
            else
            {
                _insertOrg[0] = orgid;
                id = (long)_insertOrg.Command.ExecuteScalar()!;
            }

            NewOrgs[orgid] = id;
            return id;
        }

        /// <summary>A number above every live run.</summary>
        private long NextRun()
        {
            using var cmd = NewCommand("SELECT coalesce(max(run), 0) + 1 FROM event_ref_runs;");
            return (long)cmd.ExecuteScalar()!;
        }

        private void AddRun(long run, long rows, int table)
        {
            if (rows == 0)
            {
                return;
            }

            using var cmd = NewCommand("INSERT INTO event_ref_runs (run, rows, tab) VALUES ($run, $rows, $tab);");
            cmd.Parameters.AddWithValue("$run", run);
            cmd.Parameters.AddWithValue("$rows", rows);
            cmd.Parameters.AddWithValue("$tab", table);
            cmd.ExecuteNonQuery();
        }

        /// <summary>Inserts <paramref name="rows"/> (sorted) as rows of <paramref name="run"/>, a new run of <see cref="FreshRunTable"/>; the number stored.</summary>
        private long InsertRefs(List<RefRow> rows, long run) =>
            InsertRows(rows, _insertRefs, RefRow.Columns + 1, "event_refs_0 (run, ref_hash, org, ts, event_seq, ctx, category)", (st, i, row) =>
            {
                st.Int(i, run);
                row.Bind(st, i + 1);
            });

        /// <summary>
        /// Keeps the number of runs logarithmic in the number of rows: a run's level is ⌊log rows⌋ to the base
        /// <see cref="MergeFanIn"/>, and whenever <see cref="MergeFanIn"/> runs share a level they are merged into one
        /// run of the next level (the lowest such level first, repeated until none is left). Every row is thus rewritten
        /// about once per level it climbs, each time appended in key order, never inserted at a random place.
        /// </summary>
        /// <remarks>
        /// Runs due after a transaction's own run are merged by the next transaction: a slice at a time while its
        /// caller has nothing else for it (<see cref="WorkWhileIdle"/>; an ingest's writer waits for the parse stage
        /// part of the time), and whatever is left when it finishes, before its own run is written. So after a commit a
        /// level holds at most <see cref="MergeFanIn"/> runs.
        /// </remarks>
        private void Compact(CancellationToken ct)
        {
            CompleteMerge(ct);
            while (NextMerge() is { } merge)
            {
                ct.ThrowIfCancellationRequested();
                merge.Complete(ct);
            }

            _nothingDue = true;
        }

        /// <summary>Completes the merge under way, if any.</summary>
        private void CompleteMerge(CancellationToken ct)
        {
            _merge?.Complete(ct);
            _merge = null;
        }

        /// <summary>
        /// One slice of a due merge (a few milliseconds), started if none is under way; false when no merge is due.
        /// </summary>
        public bool WorkWhileIdle()
        {
            if (_merge is null)
            {
                if (_nothingDue || (_merge = NextMerge()) is null)
                {
                    _nothingDue = true;
                    return false;
                }
            }

            if (_merge.Step())
            {
                _merge = null;
            }

            return true;
        }

        /// <summary>The merge of the lowest level holding <see cref="MergeFanIn"/> runs, started; null when none is due.</summary>
        private RunMerge? NextMerge()
        {
            var runs = new List<LiveRun>();
            using (var cmd = NewCommand("SELECT run, rows, tab FROM event_ref_runs ORDER BY run;"))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read())
                {
                    runs.Add(new LiveRun(r.GetInt64(0), r.GetInt64(1), r.GetInt32(2)));
                }
            }

            var due = runs.GroupBy(r => RunLevel(r.Rows)).Where(g => g.Count() >= _mergeFanIn).MinBy(g => g.Key);
            return due is null ? null : new RunMerge(this, [.. due], runs);
        }

        /// <summary>⌊log_fan-in rows⌋ (0 for an empty run): <see cref="MergeFanIn"/> runs of one level make a run of the next.</summary>
        private int RunLevel(long rows) => rows <= 1 ? 0 : (63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)rows)) / System.Numerics.BitOperations.Log2((uint)_mergeFanIn);

        /// <summary>
        /// Merges runs into a new run with INSERT … SELECT: SQLite reads the runs' primary-key ranges in key order (a
        /// merge of sorted inputs, no sort and no temporary table) and appends the rows as the new run; the old runs are
        /// then deleted (contiguous key ranges). No row crosses to the application. The rows go in
        /// <see cref="Slices"/> slices of the hash range, one per <see cref="Step"/>, in key order.
        /// </summary>
        /// <remarks>
        /// SQLite copies every row an INSERT … SELECT reads into a temporary table (memory, here) when the statement
        /// reads the table it writes, so the runs are read from one table and the new run is written to the other:
        /// the table holding fewer of the merged rows, whose runs among the merged ones (if any; only when runs of one
        /// level lie in both tables) are first moved to the other table. The merged run's number is taken when the
        /// merge starts and registered when it ends; until then the transaction writes no other run and deletes no
        /// reference row (<see cref="Complete"/> comes first).
        /// </remarks>
        private sealed class RunMerge
        {
            /// <summary>Slices of the hash range (by its first byte): about 6,000 rows each in a merge of 1.5 million.</summary>
            private const int Slices = 256;

            /// <summary>33 bytes of 0xff: greater than every 32-byte hash (the upper bound of the last slice).</summary>
            private static readonly byte[] AboveEveryHash = [.. Enumerable.Repeat((byte)0xff, HashBytes + 1)];

            private readonly Writer _writer;
            private readonly LiveRun[] _runs;
            private readonly List<LiveRun> _live;
            private readonly int _target;
            private readonly int _source;
            private readonly long _merged;
            private readonly RawStatement _slice;
            private int _next;
            private long _stored;

            public RunMerge(Writer writer, LiveRun[] runs, List<LiveRun> live)
            {
                _writer = writer;
                _runs = runs;
                _live = live;
                var inFirst = runs.Where(r => r.Table == 0).Sum(r => r.Rows);
                var inSecond = runs.Where(r => r.Table == 1).Sum(r => r.Rows);
                _target = inFirst <= inSecond ? 0 : 1;
                _source = 1 - _target;
                foreach (var r in runs.Where(r => r.Table == _target))
                {
                    var run = r.Run.ToString(CultureInfo.InvariantCulture);
                    using var move = writer.NewCommand(
                        $"INSERT INTO event_refs_{_source} (run, ref_hash, org, ts, event_seq, ctx, category) SELECT run, ref_hash, org, ts, event_seq, ctx, category FROM event_refs_{_target} WHERE run = {run} ORDER BY ref_hash, org, ts, event_seq;"
                        + $" DELETE FROM event_refs_{_target} WHERE run = {run}; UPDATE event_ref_runs SET tab = {_source} WHERE run = {run};");
                    move.ExecuteNonQuery();
                }

                _merged = writer.NextRun();
                var merged = _merged.ToString(CultureInfo.InvariantCulture);
                _slice = writer.MakeRaw(
                    $"INSERT OR IGNORE INTO event_refs_{_target} (run, ref_hash, org, ts, event_seq, ctx, category) "
                    + string.Join(" UNION ALL ", runs.Select(r => $"SELECT {merged}, ref_hash, org, ts, event_seq, ctx, category FROM event_refs_{_source} WHERE run = {r.Run.ToString(CultureInfo.InvariantCulture)} AND ref_hash >= ?1 AND ref_hash < ?2"))
                    + " ORDER BY 2, 3, 4, 5;");
            }

            /// <summary>Merges the next slice; true when that was the last one and the merge is registered.</summary>
            public bool Step()
            {
                // Hashes from byte b (inclusive) to byte b + 1 (exclusive); the last slice's bound is above every hash.
                ReadOnlySpan<byte> lower = [(byte)_next];
                ReadOnlySpan<byte> upper = _next == Slices - 1 ? AboveEveryHash : [(byte)(_next + 1)];
                _slice.Blob(1, lower);
                _slice.Blob(2, upper);
                _stored += _slice.Run();
                if (++_next < Slices)
                {
                    return false;
                }

                // When the merged runs were all the source table held, the table is emptied at once (SQLite frees its
                // pages without visiting a row); otherwise their rows are deleted range by range.
                var list = string.Join(", ", _runs.Select(r => r.Run.ToString(CultureInfo.InvariantCulture)));
                var emptied = _live.All(r => r.Table != _source || _runs.Any(m => m.Run == r.Run));
                var deleteRows = emptied ? $"DELETE FROM event_refs_{_source};" : $"DELETE FROM event_refs_{_source} WHERE run IN ({list});";
                using (var delete = _writer.NewCommand($"{deleteRows} DELETE FROM event_ref_runs WHERE run IN ({list});"))
                {
                    delete.ExecuteNonQuery();
                }

                _writer.AddRun(_merged, _stored, _target);
                return true;
            }

            /// <summary>Merges every slice left and registers the merge.</summary>
            public void Complete(CancellationToken ct)
            {
                while (!Step())
                {
                    ct.ThrowIfCancellationRequested();
                }
            }
        }

        private long InsertRows<T>(List<T> rows, Dictionary<int, RawStatement> cache, int columns, string target, Action<RawStatement, int, T> bind)
        {
            long stored = 0;
            for (var start = 0; start < rows.Count; start += RowsPerInsert)
            {
                var count = Math.Min(RowsPerInsert, rows.Count - start);
                if (!cache.TryGetValue(count, out var st))
                {
                    var sql = new StringBuilder("INSERT OR IGNORE INTO ").Append(target).Append(" VALUES ");
                    for (var row = 0; row < count; row++)
                    {
                        sql.Append(row == 0 ? "(" : ", (");
                        for (var col = 0; col < columns; col++)
                        {
                            sql.Append(col == 0 ? "?" : ", ?");
                        }

                        sql.Append(')');
                    }

                    st = MakeRaw(sql.Append(';').ToString());
                    cache[count] = st;
                }

                // Anonymous parameters are numbered 1, 2, … in order.
                for (var row = 0; row < count; row++)
                {
                    bind(st, 1 + (row * columns), rows[start + row]);
                }

                stored += st.Run();
            }

            rows.Clear();
            return stored;
        }

        private SqliteCommand NewCommand(string sql)
        {
            var cmd = _conn.CreateCommand();
            cmd.Transaction = _tx;
            cmd.CommandText = sql;
            return cmd;
        }

        private RawStatement MakeRaw(string sql)
        {
            var st = new RawStatement(_conn.Handle!, sql);
            _raw.Add(st);
            return st;
        }

        private Statement Make(string sql, params string[] parameters)
        {
            var cmd = NewCommand(sql);
            var ps = new SqliteParameter[parameters.Length];
            for (var i = 0; i < parameters.Length; i++)
            {
                ps[i] = cmd.Parameters.Add(new SqliteParameter { ParameterName = parameters[i] });
            }

            cmd.Prepare();
            _commands.Add(cmd);
            return new Statement(cmd, ps);
        }
    }

    /// <summary>A prepared command and its parameters, set by position.</summary>
    private sealed class Statement(SqliteCommand command, SqliteParameter[] parameters)
    {
        public SqliteCommand Command { get; } = command;

        public object this[int index]
        {
            set => parameters[index].Value = value;
        }
    }

    /// <summary>
    /// A statement prepared on the connection's SQLite handle, bound by position and run to completion: none of
    /// Microsoft.Data.Sqlite's per-execution work (parameters found by name, a data reader for results). It runs inside
    /// the connection's open transaction like any statement on that handle. Used for the statements run per document
    /// or per few index rows.
    /// </summary>
    private sealed unsafe class RawStatement : IDisposable
    {
        /// <summary>SQLITE_TRANSIENT: SQLite copies a bound blob before the bind call returns.</summary>
        private const nint Transient = -1;

        /// <summary>SQLITE_STATIC: SQLite reads the bound memory where it is, until the parameter is bound again.</summary>
        private const nint Static = 0;

        /// <summary>
        /// The longest value <see cref="Blob"/> and <see cref="Text(int, ReadOnlySpan{byte})"/> bind from
        /// <see cref="_slots"/>: a hash, an orgid (64 hexadecimal digits) or a label such as an itype.
        /// </summary>
        private const int SlotBytes = 2 * HashBytes;

        private readonly SQLitePCL.sqlite3 _db;
        private readonly SQLitePCL.sqlite3_stmt _stmt;

        /// <summary>
        /// The native statement behind <see cref="_stmt"/>, for the bind calls made per value (see <see cref="Native"/>).
        /// Valid until <see cref="Dispose"/>: this object owns the statement, and a binding never outlives a call.
        /// </summary>
        private readonly nint _handle;

        /// <summary>
        /// <see cref="SlotBytes"/> bytes per parameter, on the pinned object heap (never moved): <see cref="Blob"/>
        /// copies a value into its parameter's slot and binds it there, where it stays until that parameter is bound
        /// again. An ingest binds about 7.5 million hashes and 4.5 million labels per 1M events; bound as copies
        /// (SQLITE_TRANSIENT), each was a malloc, a copy and a free inside SQLite.
        /// </summary>
        private readonly byte[] _slots;

        /// <summary>The address of <see cref="_slots"/> (fixed: the array is on the pinned object heap).</summary>
        private readonly byte* _slotsAddress;

        public RawStatement(SQLitePCL.sqlite3 db, string sql)
        {
            _db = db;
            Check(SQLitePCL.raw.sqlite3_prepare_v2(db, sql, out _stmt));
            _handle = _stmt.DangerousGetHandle();
            _slots = GC.AllocateUninitializedArray<byte>(SQLitePCL.raw.sqlite3_bind_parameter_count(_stmt) * SlotBytes, pinned: true);
            _slotsAddress = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_slots));
        }

        /// <summary>The rowid of the last row inserted on the connection.</summary>
        public long LastInsertRowId => SQLitePCL.raw.sqlite3_last_insert_rowid(_db);

        /// <summary>
        /// Binds a copy of <paramref name="value"/>: up to <see cref="SlotBytes"/> in the parameter's slot (see
        /// <see cref="_slots"/>), a longer one as SQLite's own copy. An empty span binds an empty blob, not NULL.
        /// </summary>
        public void Blob(int index, ReadOnlySpan<byte> value)
        {
            if (value.IsEmpty)
            {
                Check(Native.sqlite3_bind_zeroblob(_handle, index, 0));
            }
            else if (value.Length > SlotBytes)
            {
                Check(Native.sqlite3_bind_blob(_handle, index, ref MemoryMarshal.GetReference(value), value.Length, Transient));
            }
            else
            {
                Check(Native.sqlite3_bind_blob_static(_handle, index, InSlot(index, value), value.Length, Static));
            }
        }

        public void Int(int index, long value) => Check(Native.sqlite3_bind_int64(_handle, index, value));

        public void Real(int index, double value) => Check(Native.sqlite3_bind_double(_handle, index, value));

        public void Text(int index, string value) => Check(SQLitePCL.raw.sqlite3_bind_text(_stmt, index, value));

        /// <summary>
        /// Binds a copy of the UTF-8 text <paramref name="utf8"/> (no string made and encoded again on the way): up to
        /// <see cref="SlotBytes"/> in the parameter's slot, a longer one as SQLite's own copy.
        /// </summary>
        public void Text(int index, ReadOnlySpan<byte> utf8)
        {
            if (utf8.IsEmpty)
            {
                Check(SQLitePCL.raw.sqlite3_bind_text(_stmt, index, string.Empty));
            }
            else if (utf8.Length > SlotBytes)
            {
                Check(Native.sqlite3_bind_text(_handle, index, ref MemoryMarshal.GetReference(utf8), utf8.Length, Transient));
            }
            else
            {
                Check(Native.sqlite3_bind_text_static(_handle, index, InSlot(index, utf8), utf8.Length, Static));
            }
        }

        /// <summary>Copies <paramref name="value"/> (at most <see cref="SlotBytes"/>) into the slot of parameter <paramref name="index"/>; its address.</summary>
        private byte* InSlot(int index, ReadOnlySpan<byte> value)
        {
            var offset = (index - 1) * SlotBytes;
            value.CopyTo(_slots.AsSpan(offset, SlotBytes));
            return _slotsAddress + offset;
        }

        /// <summary>
        /// <see cref="Run"/> with parameter <paramref name="index"/> bound to the blob <paramref name="value"/> in place:
        /// the span is pinned while the statement runs, and the parameter is set to NULL before this returns, so no
        /// binding outlives the pin. For the large values bound once per document (a stored document, ~0.6 KB packed),
        /// which SQLite would otherwise allocate and copy before building the row, which copies them again. An empty
        /// span binds an empty blob, not NULL.
        /// </summary>
        public int RunWithBlob(int index, ReadOnlySpan<byte> value)
        {
            if (value.IsEmpty)
            {
                Blob(index, value);
                return Run();
            }

            fixed (byte* pinned = value)
            {
                Check(Native.sqlite3_bind_blob_static(_handle, index, pinned, value.Length, Static));
                try
                {
                    return Run();
                }
                finally
                {
                    _ = Native.sqlite3_bind_null(_handle, index);
                }
            }
        }

        /// <summary>Runs the statement (it returns no rows) and resets it; the number of rows it changed.</summary>
        public int Run()
        {
            var rc = SQLitePCL.raw.sqlite3_step(_stmt);
            SQLitePCL.raw.sqlite3_reset(_stmt);
            if (rc != SQLitePCL.raw.SQLITE_DONE)
            {
                SqliteException.ThrowExceptionForRC(rc, _db);
            }

            return SQLitePCL.raw.sqlite3_changes(_db);
        }

        public void Dispose() => _stmt.Dispose();

        private void Check(int rc)
        {
            if (rc != SQLitePCL.raw.SQLITE_OK)
            {
                SqliteException.ThrowExceptionForRC(rc, _db);
            }
        }
    }

    /// <summary>
    /// The bind functions of the SQLite library Microsoft.Data.Sqlite loads (e_sqlite3), called on the raw statement
    /// pointer. Through SQLitePCL each bound value also took and released a reference on the statement's
    /// <see cref="SafeHandle"/> (≈ 3.5 % of an ingest's CPU for the ~30 million values of 1M events);
    /// <see cref="RawStatement"/> keeps the statement alive while these are called. The number binds and the binds of
    /// memory SQLite reads in place (SQLITE_STATIC) only store the value in the statement under the connection's mutex,
    /// which no other thread takes (a write transaction's connection belongs to its writer), so they skip the GC
    /// transition; a bind that SQLite copies (SQLITE_TRANSIENT) allocates the copy and makes the transition.
    /// </summary>
    private static class Native
    {
        private const string Library = "e_sqlite3";

        [DllImport(Library, ExactSpelling = true)]
        [SuppressGCTransition]
        public static extern int sqlite3_bind_int64(nint stmt, int index, long value);

        [DllImport(Library, ExactSpelling = true)]
        [SuppressGCTransition]
        public static extern int sqlite3_bind_double(nint stmt, int index, double value);

        [DllImport(Library, ExactSpelling = true)]
        [SuppressGCTransition]
        public static extern int sqlite3_bind_zeroblob(nint stmt, int index, int length);

        [DllImport(Library, ExactSpelling = true)]
        public static extern int sqlite3_bind_blob(nint stmt, int index, ref byte value, int length, nint destructor);

        [DllImport(Library, ExactSpelling = true)]
        public static extern int sqlite3_bind_text(nint stmt, int index, ref byte value, int length, nint destructor);

        /// <summary>sqlite3_bind_blob with SQLITE_STATIC: no allocation or copy, so no GC transition either.</summary>
        [DllImport(Library, EntryPoint = "sqlite3_bind_blob", ExactSpelling = true)]
        [SuppressGCTransition]
        public static extern unsafe int sqlite3_bind_blob_static(nint stmt, int index, byte* value, int length, nint destructor);

        /// <summary>sqlite3_bind_text with SQLITE_STATIC (see <see cref="sqlite3_bind_blob_static"/>).</summary>
        [DllImport(Library, EntryPoint = "sqlite3_bind_text", ExactSpelling = true)]
        [SuppressGCTransition]
        public static extern unsafe int sqlite3_bind_text_static(nint stmt, int index, byte* value, int length, nint destructor);

        [DllImport(Library, ExactSpelling = true)]
        [SuppressGCTransition]
        public static extern int sqlite3_bind_null(nint stmt, int index);
    }

    /// <summary>
    /// The collections a write transaction fills (reference and session rows, pending events and sessions), kept from
    /// one transaction to the next: grown anew for every 40,000-document transaction (the default then), the reference
    /// rows' list alone allocated ≈ 29 MB of large-object arrays per transaction (7 MB of rows, reached by doubling),
    /// which the GC frees only with a full collection.
    /// </summary>
    private sealed class WriteBuffers
    {
        public List<RefRow> Refs { get; } = [];

        public List<(byte[] Block, int At, long Session)> SessionEvents { get; } = [];

        /// <summary>The 32-byte hashes the rows above refer to.</summary>
        public HashBlocks Hashes { get; } = new();

        public HashSet<long> PendingEvents { get; } = [];

        public HashSet<long> PendingSessions { get; } = [];

        public void Clear()
        {
            Refs.Clear();
            SessionEvents.Clear();
            Hashes.Clear();
            PendingEvents.Clear();
            PendingSessions.Clear();
        }
    }

    /// <summary>
    /// Room for the 32-byte event hashes of a transaction's session rows, in blocks of 1 MiB kept from one transaction
    /// to the next: an array per reference would live until the commit and so reach the oldest GC generation. (The
    /// reference rows hold their hashes themselves, <see cref="RefRow"/>.)
    /// </summary>
    private sealed class HashBlocks
    {
        private const int BlockBytes = 1 << 20;

        private readonly List<byte[]> _blocks = [];
        private int _block = -1;
        private int _used;

        /// <summary>Room for <paramref name="hashes"/> consecutive hashes: the block and the offset of the first.</summary>
        public (byte[] Block, int At) Reserve(int hashes)
        {
            var bytes = hashes * HashBytes;
            if (_block < 0 || _used + bytes > _blocks[_block].Length)
            {
                _block++;
                _used = 0;
                if (_block == _blocks.Count || _blocks[_block].Length < bytes)
                {
                    _blocks.Insert(_block, new byte[Math.Max(BlockBytes, bytes)]);
                }
            }

            var at = _used;
            _used += bytes;
            return (_blocks[_block], at);
        }

        /// <summary>Forgets every hash (the blocks stay for the next transaction).</summary>
        public void Clear()
        {
            _block = -1;
            _used = 0;
        }
    }

    /// <summary>A live run of event_refs: its number, its rows when written, and the table holding it.</summary>
    private readonly record struct LiveRun(long Run, long Rows, int Table);

    /// <summary>
    /// One event_refs row of the open transaction; sorts in primary-key order. The ref hash is held as four numbers in
    /// its byte order, so that rows compare without touching memory elsewhere (a popular hash is in thousands of a
    /// transaction's rows, and the sort compares those all the way to their org, time and event).
    /// </summary>
    private readonly record struct RefRow(ulong H0, ulong H1, ulong H2, ulong H3, long Org, double Ts, long EventSeq, int Ctx, int Category) : IComparable<RefRow>
    {
        public const int Columns = 6;

        public static RefRow Of(ReadOnlySpan<byte> hash, long org, double ts, long eventSeq, int ctx, int category) => new(
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash[8..]),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash[16..]),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(hash[24..HashBytes]),
            org,
            ts,
            eventSeq,
            ctx,
            category);

        public int CompareTo(RefRow other)
        {
            var c = H0.CompareTo(other.H0);
            if (c == 0 && (c = H1.CompareTo(other.H1)) == 0 && (c = H2.CompareTo(other.H2)) == 0 && (c = H3.CompareTo(other.H3)) == 0
                && (c = Org.CompareTo(other.Org)) == 0 && (c = Ts.CompareTo(other.Ts)) == 0)
            {
                c = EventSeq.CompareTo(other.EventSeq);
            }

            return c;
        }

        public void Bind(RawStatement st, int at)
        {
            Span<byte> hash = stackalloc byte[HashBytes];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(hash, H0);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(hash[8..], H1);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(hash[16..], H2);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(hash[24..], H3);
            st.Blob(at, hash);
            st.Int(at + 1, Org);
            st.Real(at + 2, Ts);
            st.Int(at + 3, EventSeq);
            st.Int(at + 4, Ctx);
            st.Int(at + 5, Category);
        }
    }
}
