using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Sqlite;

/// <summary>The archive in SQLite: documents, the event/reference index, sessions and identity tables.</summary>
internal sealed class SqliteArchive(SqliteStore store) : IArchiveStore
{
    /// <summary>Page cache of a writing connection: 64 MiB (negative: KiB).</summary>
    private const string WriteCachePragma = "PRAGMA cache_size=-65536;";

    public async Task<WriteSummary> WriteAsync(IReadOnlyList<ArchiveDocument> batch, CancellationToken cancellationToken)
    {
        int inserted = 0, duplicates = 0, updated = 0;
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

        // Inserts land at random places in the hash-keyed indexes (instances.hash, event_refs): with SQLite's default
        // 2 MiB page cache nearly every insert re-reads pages from the OS. A larger cache on the writing connection
        // (the pool keeps it with the connection) keeps the index pages of a batch in memory.
        await SqliteStore.ExecAsync(conn, WriteCachePragma, cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var w = new Writer(conn, tx);
        foreach (var doc in batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var text = StoredDocumentText.Of(doc);
            w.InsertInstance.Parameters["$hash"].Value = doc.Hash.ToBytes();
            w.InsertInstance.Parameters["$itype"].Value = doc.Itype;
            w.InsertInstance.Parameters["$sub"].Value = doc.SubType;
            w.InsertInstance.Parameters["$doc"].Value = text;
            var newSeq = await w.InsertInstance.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            long seq;
            if (newSeq is long s)
            {
                seq = s;
                inserted++;
            }
            else
            {
                w.SelectInstance.Parameters["$hash"].Value = doc.Hash.ToBytes();
                await using (var r = await w.SelectInstance.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    await r.ReadAsync(cancellationToken).ConfigureAwait(false);
                    seq = r.GetInt64(0);
                    var stored = r.GetString(1);
                    if (StoredDocumentText.SameContent(stored, text))
                    {
                        duplicates++;
                        continue;
                    }
                }

                // Same identity, newer content: replace the document and re-derive every index row from it.
                w.UpdateInstance.Parameters["$seq"].Value = seq;
                w.UpdateInstance.Parameters["$doc"].Value = text;
                await w.UpdateInstance.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                w.DeleteRefs.Parameters["$seq"].Value = seq;
                await w.DeleteRefs.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                w.DeleteSessionEvents.Parameters["$seq"].Value = seq;
                await w.DeleteSessionEvents.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                updated++;
            }

            await IndexAsync(w, doc, seq, cancellationToken).ConfigureAwait(false);
        }

        if (inserted + updated > 0)
        {
            await SqliteStore.ExecAsync(conn, "UPDATE archive_version SET version = version + 1 WHERE id = 1;", cancellationToken, tx).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new WriteSummary(inserted, duplicates, updated);
    }

    private static async Task IndexAsync(Writer w, ArchiveDocument doc, long seq, CancellationToken ct)
    {
        if (doc.Itype == "event")
        {
            var ts = doc.Timestamp ?? 0;
            var cat = doc.Category ?? "unknown";
            w.UpsertEvent.Parameters["$seq"].Value = seq;
            w.UpsertEvent.Parameters["$hash"].Value = doc.Hash.ToBytes();
            w.UpsertEvent.Parameters["$org"].Value = doc.OrgId ?? string.Empty;
            w.UpsertEvent.Parameters["$ts"].Value = ts;
            w.UpsertEvent.Parameters["$cat"].Value = cat;
            await w.UpsertEvent.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            var ben = new HashSet<InstanceHash>(doc.BenRef);
            var mal = new HashSet<InstanceHash>(doc.MalRef);
            foreach (var r in doc.Ref)
            {
                w.InsertRef.Parameters["$ref"].Value = r.ToBytes();
                w.InsertRef.Parameters["$org"].Value = doc.OrgId ?? string.Empty;
                w.InsertRef.Parameters["$ts"].Value = ts;
                w.InsertRef.Parameters["$seq"].Value = seq;
                w.InsertRef.Parameters["$ctx"].Value = mal.Contains(r) ? 2 : ben.Contains(r) ? 1 : 0;
                w.InsertRef.Parameters["$cat"].Value = cat;
                await w.InsertRef.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        else if (doc.Itype == "session")
        {
            foreach (var e in doc.Ref)
            {
                w.InsertSessionEvent.Parameters["$event"].Value = e.ToBytes();
                w.InsertSessionEvent.Parameters["$seq"].Value = seq;
                await w.InsertSessionEvent.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
        else if (doc.IsUser)
        {
            var user = IdentityDocuments.User(doc);
            await using var cmd = w.Conn.CreateCommand();
            cmd.Transaction = w.Tx;
            cmd.CommandText = "INSERT INTO users (hash, email, name, sub_type) VALUES ($h, $e, $n, $s) ON CONFLICT (hash) DO UPDATE SET email = excluded.email, name = excluded.name, sub_type = excluded.sub_type;";
            cmd.Parameters.AddWithValue("$h", doc.Hash.ToBytes());
            cmd.Parameters.AddWithValue("$e", user.Email);
            cmd.Parameters.AddWithValue("$n", user.Name);
            cmd.Parameters.AddWithValue("$s", user.SubType);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        else if (doc.IsOrg)
        {
            var org = IdentityDocuments.Org(doc);
            await using (var cmd = w.Conn.CreateCommand())
            {
                cmd.Transaction = w.Tx;
                cmd.CommandText = "INSERT INTO orgs (hash, orgname, name) VALUES ($h, $o, $n) ON CONFLICT (hash) DO UPDATE SET orgname = excluded.orgname, name = excluded.name; DELETE FROM org_members WHERE org_hash = $h;";
                cmd.Parameters.AddWithValue("$h", doc.Hash.ToBytes());
                cmd.Parameters.AddWithValue("$o", org.OrgName);
                cmd.Parameters.AddWithValue("$n", org.Name);
                await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            foreach (var (members, role) in new[] { (org.Users, 0), (org.Admins, 1) })
            {
                foreach (var u in members)
                {
                    await using var cmd = w.Conn.CreateCommand();
                    cmd.Transaction = w.Tx;
                    cmd.CommandText = "INSERT OR IGNORE INTO org_members (user_hash, role, org_hash) VALUES ($u, $r, $o);";
                    cmd.Parameters.AddWithValue("$u", u.ToBytes());
                    cmd.Parameters.AddWithValue("$r", role);
                    cmd.Parameters.AddWithValue("$o", doc.Hash.ToBytes());
                    await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }
        }
    }

    public async Task<long> CountDanglingReferencesAsync(CancellationToken cancellationToken) =>
        await ScalarAsync("SELECT count(*) FROM event_refs r WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.hash = r.ref_hash);", null, cancellationToken).ConfigureAwait(false);

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
        return await ScalarAsync($"SELECT count(*) FROM event_refs WHERE {where};", bind, cancellationToken).ConfigureAwait(false);
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
        cmd.CommandText = $"SELECT CAST((ts - $origin) / $width AS INTEGER) AS b, count(*) FROM event_refs WHERE {where} GROUP BY b ORDER BY b;";
        bind(cmd);
        cmd.Parameters.AddWithValue("$origin", origin);
        cmd.Parameters.AddWithValue("$width", bucketSeconds);
        var result = new List<BucketCount>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new BucketCount(origin + (r.GetInt64(0) * bucketSeconds), r.GetInt64(1)));
        }

        return result;
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
        cmd.CommandText = $"SELECT min(ts), max(ts) FROM event_refs WHERE {where};";
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
        cmd.CommandText = $"SELECT e.hash FROM event_refs r JOIN events e ON e.seq = r.event_seq WHERE {where} ORDER BY r.event_seq LIMIT $take OFFSET $skip;";
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
            var names = new StringBuilder();
            for (var i = 0; i < part.Length; i++)
            {
                var name = "$h" + i.ToString(CultureInfo.InvariantCulture);
                names.Append(i == 0 ? string.Empty : ", ").Append(name);
                cmd.Parameters.AddWithValue(name, part[i].ToBytes());
            }

            cmd.CommandText = $"SELECT seq, doc FROM instances WHERE hash IN ({names});";
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                result.Add((r.GetInt64(0), StoredDocumentText.Parse(r.GetString(1))));
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
        cmd.CommandText = $"SELECT e.hash FROM instances s JOIN session_events se ON se.session_seq = s.seq JOIN events e ON e.hash = se.event_hash WHERE s.hash = $s AND e.orgid IN ({orgs}) ORDER BY e.ts, e.seq LIMIT $take;";
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

        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        var orgs = OrgList(cmd, visibility);
        // Only references to stored attributes: objects are not graph nodes, missing documents are unknown.
        cmd.CommandText = $"SELECT e.seq, e.hash, e.ts, e.category, a.ref_hash FROM events e " +
                          "LEFT JOIN (SELECT r.event_seq, r.ref_hash FROM event_refs r JOIN instances i ON i.hash = r.ref_hash AND i.itype = 'attribute') a ON a.event_seq = e.seq " +
                          $"WHERE e.orgid IN ({orgs}) ORDER BY e.seq;";
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        long current = -1;
        InstanceHash hash = default;
        double ts = 0;
        string category = string.Empty;
        var refs = new List<InstanceHash>();
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var seq = r.GetInt64(0);
            if (seq != current)
            {
                if (current >= 0)
                {
                    yield return new EventEdges(hash, ts, category, [.. refs]);
                }

                current = seq;
                hash = InstanceHash.FromBytes((byte[])r.GetValue(1));
                ts = r.GetDouble(2);
                category = r.GetString(3);
                refs.Clear();
            }

            if (!r.IsDBNull(4))
            {
                refs.Add(InstanceHash.FromBytes((byte[])r.GetValue(4)));
            }
        }

        if (current >= 0)
        {
            yield return new EventEdges(hash, ts, category, [.. refs]);
        }
    }

    public async Task<IReadOnlySet<InstanceHash>> AttributesAmongAsync(IReadOnlyCollection<InstanceHash> hashes, CancellationToken cancellationToken)
    {
        var result = new HashSet<InstanceHash>();
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT 1 FROM instances WHERE hash = $h AND itype = 'attribute';";
        var p = cmd.Parameters.Add("$h", SqliteType.Blob);
        foreach (var h in hashes)
        {
            p.Value = h.ToBytes();
            if (await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null)
            {
                result.Add(h);
            }
        }

        return result;
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

    private static (string Where, Action<SqliteCommand> Bind) RefFilter(InstanceHash instance, EventFilter filter, Visibility visibility, string alias = "")
    {
        var sb = new StringBuilder();
        sb.Append(alias).Append("ref_hash = $ref AND ").Append(alias).Append("orgid IN (");
        for (var i = 0; i < visibility.OrgIds.Length; i++)
        {
            sb.Append(i == 0 ? "$o" : ", $o").Append(i.ToString(CultureInfo.InvariantCulture));
        }

        sb.Append(')');
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
            EventContext.Benign => 1,
            EventContext.Malicious => 2,
            EventContext.Unknown => 0,
            _ => -1,
        };
        if (ctx >= 0)
        {
            sb.Append(" AND ").Append(alias).Append("ctx = $ctx");
        }

        return (sb.ToString(), cmd =>
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
                cmd.Parameters.AddWithValue("$cat", filter.Category);
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

    /// <summary>Prepared statements of one write transaction.</summary>
    private sealed class Writer : IAsyncDisposable
    {
        public Writer(SqliteConnection conn, SqliteTransaction tx)
        {
            Conn = conn;
            Tx = tx;
            InsertInstance = Make("INSERT INTO instances (hash, itype, sub_type, doc) VALUES ($hash, $itype, $sub, $doc) ON CONFLICT (hash) DO NOTHING RETURNING seq;", "$hash", "$itype", "$sub", "$doc");
            SelectInstance = Make("SELECT seq, doc FROM instances WHERE hash = $hash;", "$hash");
            UpdateInstance = Make("UPDATE instances SET doc = $doc WHERE seq = $seq;", "$seq", "$doc");
            DeleteRefs = Make("DELETE FROM event_refs WHERE event_seq = $seq;", "$seq");
            DeleteSessionEvents = Make("DELETE FROM session_events WHERE session_seq = $seq;", "$seq");
            UpsertEvent = Make("INSERT INTO events (seq, hash, orgid, ts, category) VALUES ($seq, $hash, $org, $ts, $cat) ON CONFLICT (seq) DO UPDATE SET orgid = excluded.orgid, ts = excluded.ts, category = excluded.category;", "$seq", "$hash", "$org", "$ts", "$cat");
            InsertRef = Make("INSERT OR IGNORE INTO event_refs (ref_hash, orgid, ts, event_seq, ctx, category) VALUES ($ref, $org, $ts, $seq, $ctx, $cat);", "$ref", "$org", "$ts", "$seq", "$ctx", "$cat");
            InsertSessionEvent = Make("INSERT OR IGNORE INTO session_events (event_hash, session_seq) VALUES ($event, $seq);", "$event", "$seq");
        }

        public SqliteConnection Conn { get; }

        public SqliteTransaction Tx { get; }

        public SqliteCommand InsertInstance { get; }

        public SqliteCommand SelectInstance { get; }

        public SqliteCommand UpdateInstance { get; }

        public SqliteCommand DeleteRefs { get; }

        public SqliteCommand DeleteSessionEvents { get; }

        public SqliteCommand UpsertEvent { get; }

        public SqliteCommand InsertRef { get; }

        public SqliteCommand InsertSessionEvent { get; }

        public async ValueTask DisposeAsync()
        {
            foreach (var c in new[] { InsertInstance, SelectInstance, UpdateInstance, DeleteRefs, DeleteSessionEvents, UpsertEvent, InsertRef, InsertSessionEvent })
            {
                await c.DisposeAsync().ConfigureAwait(false);
            }
        }

        private SqliteCommand Make(string sql, params string[] parameters)
        {
            var cmd = Conn.CreateCommand();
            cmd.Transaction = Tx;
            cmd.CommandText = sql;
            foreach (var p in parameters)
            {
                cmd.Parameters.Add(new SqliteParameter { ParameterName = p });
            }

            cmd.Prepare();
            return cmd;
        }
    }
}
