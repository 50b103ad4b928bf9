using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// A file written with an earlier schema is migrated on open and answers exactly as a store that ingested the same
/// documents with the current schema.
/// </summary>
public sealed class SqliteMigrationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-sqlite-migrate-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(10)]
    public async Task Open_MigratesAnOlderArchive_ToTheCurrentSchema_WithTheSameAnswers(int version)
    {
        var ds = Datasets.Named("D3_medium");
        var oldPath = Path.Combine(_dir, $"v{version}.db");
        WriteOlderArchive(oldPath, ds, version);

        // An event row whose hash has the first 8 bytes of a stored event's (0010 numbers it after that event; a version-10
        // file numbered it already), its document another event's.
        var first = ds.Events.First();
        var shared = first.Hash.ToBytes();
        shared[^1] ^= 0xFF;
        using (var conn = SqliteFile.Open(oldPath))
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = version >= 10
                ? "INSERT INTO instances (seq, hash, itype, sub_type, doc, prefix_no) VALUES ((SELECT max(seq) + 1 FROM instances), $h, 'event', 'x', $d, 1);"
                : "INSERT INTO instances (seq, hash, itype, sub_type, doc) VALUES ((SELECT max(seq) + 1 FROM instances), $h, 'event', 'x', $d);";
            cmd.Parameters.AddWithValue("$h", shared);
            cmd.Parameters.AddWithValue("$d", StoredDocumentText.Of(ds.Events.Last()));
            cmd.ExecuteNonQuery();
        }

        await using var migrated = await SqliteStore.OpenAsync(oldPath, TimeProvider.System, Ct);
        await using var fresh = await SqliteStore.OpenAsync(Path.Combine(_dir, "fresh.db"), TimeProvider.System, Ct);
        await fresh.Archive.WriteAsync([.. ds.Everything], Ct);

        await SameArchiveAnswers.AssertAsync(ds, fresh, migrated, Ct, extraEvents: 1);
        Assert.Equal(
            [$"{first.Hash.Value.ToUpperInvariant()}|0", $"{Convert.ToHexString(shared)}|1"],
            SqliteFile.Rows(oldPath, "SELECT hex(hash), prefix_no FROM instances WHERE hash8 = substr(x'" + first.Hash.Value + "', 1, 8) ORDER BY seq;"));

        // 0011: every document packed, as the application packs its text; a second write finds them all unchanged.
        Assert.Equal(0, Scalar(oldPath, "SELECT count(*) FROM instances WHERE typeof(doc) <> 'blob';"));
        Assert.Equal(
            ds.Everything.Select(d => $"{d.Hash.Value.ToUpperInvariant()}|{Convert.ToHexString(PackedDocumentText.Pack(StoredDocumentText.Of(d)))}").Append($"{Convert.ToHexString(shared)}|{Convert.ToHexString(PackedDocumentText.Pack(StoredDocumentText.Of(ds.Events.Last())))}").Order(StringComparer.Ordinal),
            SqliteFile.Rows(oldPath, "SELECT hex(hash), hex(doc) FROM instances;").Order(StringComparer.Ordinal));
        Assert.Equal(new WriteSummary(0, ds.Everything.Count(), 0), await migrated.Archive.WriteAsync([.. ds.Everything], Ct));

        // 0006: the events table has no secondary index left; its rows keep their seq.
        Assert.Equal(0, Scalar(oldPath, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events';"));
        Assert.Equal(ds.Events.Count(), Scalar(oldPath, "SELECT count(*) FROM events e JOIN instances i ON i.seq = e.seq AND i.hash = e.hash;"));

        // 0009: instances without AUTOINCREMENT, every row with its seq (the join above), nothing left in sqlite_sequence;
        // a new document takes the number after the highest.
        Assert.Equal(0, Scalar(oldPath, "SELECT count(*) FROM sqlite_schema WHERE name = 'instances' AND sql LIKE '%AUTOINCREMENT%';"));
        Assert.Equal(0, Scalar(oldPath, "SELECT count(*) FROM sqlite_sequence WHERE name = 'instances';"));
        var highest = Scalar(oldPath, "SELECT max(seq) FROM instances;");
        Assert.True(ArchiveDocument.TryCreate(TahoeAttribute.Create("ipv4", "192.0.2.250").Document, out var added, out var addError), addError);
        Assert.Equal(new WriteSummary(1, 0, 0), await migrated.Archive.WriteAsync([added!], Ct));
        Assert.Equal(highest + 1, Scalar(oldPath, $"SELECT seq FROM instances WHERE hash = x'{added!.Hash.Value}';"));

        // 0010: events found by their hash's first 8 bytes, every other instance by its whole hash; no index of all 32 bytes.
        Assert.Equal(
            ["instances_event_hash8|CREATE UNIQUE INDEX instances_event_hash8 ON instances (hash8, prefix_no) WHERE itype = 'event'", "instances_hash|CREATE UNIQUE INDEX instances_hash ON instances (hash) WHERE itype <> 'event'"],
            SqliteFile.Rows(oldPath, "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'instances' ORDER BY name;"));
        Assert.Equal(ds.Events.Count() + 1, Scalar(oldPath, "SELECT count(*) FROM instances WHERE itype = 'event';"));

        // The migrated file takes later versions of its events like a fresh one: the old reference rows go.
        var ev = ds.Events.First(e => e.Category != "malicious");
        Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String("malicious")), out var edited, out var error), error);
        Assert.Equal(new WriteSummary(0, 0, 1), await migrated.Archive.WriteAsync([edited!], Ct));
        Assert.Equal(new WriteSummary(0, 0, 1), await fresh.Archive.WriteAsync([edited!], Ct));
        var owner = new Visibility([ev.OrgId!]);
        EventFilter[] filters =
        [
            EventFilter.Everything,
            new(0, 0, "malicious", EventContext.All),
            new(0, 0, null, EventContext.Malicious),
            new(0, 0, "benign", EventContext.Benign),
        ];
        foreach (var r in ev.Ref)
        {
            foreach (var f in filters)
            {
                Assert.Equal(await fresh.Archive.CountEventsAsync(r, f, owner, Ct), await migrated.Archive.CountEventsAsync(r, f, owner, Ct));
            }
        }
    }

    private static long Scalar(string path, string sql)
    {
        using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Writes <paramref name="ds"/> the way the store did up to schema version 3 (event_refs with orgid text), then
    /// applies the scripts after 3 up to <paramref name="version"/> as the store of that version did.
    /// </summary>
    private static void WriteOlderArchive(string path, Dataset ds, int version)
    {
        using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        conn.Open();
        using var tx = conn.BeginTransaction();
        void Exec(string sql, params (string Name, object Value)[] args)
        {
            using var cmd = conn.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = sql;
            foreach (var (name, value) in args)
            {
                cmd.Parameters.AddWithValue(name, value);
            }

            cmd.ExecuteNonQuery();
        }

        Exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL);");
        foreach (var (v, name, sql) in MigrationScripts.Load(typeof(SqliteStore).Assembly, "Cybexp.Report.Storage.Sqlite.Migrations.").Where(s => s.Version <= 3))
        {
            Exec(sql);
            Exec("INSERT INTO schema_migrations (version, name) VALUES ($v, $n);", ("$v", v), ("$n", name));
        }

        long seq = 0;
        foreach (var doc in ds.Everything)
        {
            seq++;
            Exec("INSERT INTO instances (seq, hash, itype, sub_type, doc) VALUES ($s, $h, $i, $st, $d);",
                ("$s", seq), ("$h", doc.Hash.ToBytes()), ("$i", doc.Itype), ("$st", doc.SubType), ("$d", StoredDocumentText.Of(doc)));
            if (doc.Itype == "event")
            {
                Exec("INSERT INTO events (seq, hash, orgid, ts, category) VALUES ($s, $h, $o, $t, $c);",
                    ("$s", seq), ("$h", doc.Hash.ToBytes()), ("$o", doc.OrgId!), ("$t", doc.Timestamp ?? 0), ("$c", doc.Category ?? "unknown"));
                foreach (var r in doc.Ref)
                {
                    var ctx = doc.MalRef.Contains(r) ? 2 : doc.BenRef.Contains(r) ? 1 : 0;
                    Exec("INSERT INTO event_refs (ref_hash, orgid, ts, event_seq, ctx, category) VALUES ($r, $o, $t, $s, $x, $c);",
                        ("$r", r.ToBytes()), ("$o", doc.OrgId!), ("$t", doc.Timestamp ?? 0), ("$s", seq), ("$x", ctx), ("$c", doc.Category ?? "unknown"));
                }
            }
            else if (doc.Itype == "session")
            {
                foreach (var e in doc.Ref)
                {
                    Exec("INSERT INTO session_events (event_hash, session_seq) VALUES ($e, $s);", ("$e", e.ToBytes()), ("$s", seq));
                }
            }
            else if (doc.IsUser)
            {
                var u = IdentityDocuments.User(doc);
                Exec("INSERT INTO users (hash, email, name, sub_type) VALUES ($h, $e, $n, $s);", ("$h", doc.Hash.ToBytes()), ("$e", u.Email), ("$n", u.Name), ("$s", u.SubType));
            }
            else if (doc.IsOrg)
            {
                var o = IdentityDocuments.Org(doc);
                Exec("INSERT INTO orgs (hash, orgname, name) VALUES ($h, $o, $n);", ("$h", doc.Hash.ToBytes()), ("$o", o.OrgName), ("$n", o.Name));
                foreach (var (members, role) in new[] { (o.Users, 0), (o.Admins, 1) })
                {
                    foreach (var m in members)
                    {
                        Exec("INSERT OR IGNORE INTO org_members (user_hash, role, org_hash) VALUES ($u, $r, $o);", ("$u", m.ToBytes()), ("$r", role), ("$o", doc.Hash.ToBytes()));
                    }
                }
            }
        }

        foreach (var (v, name, sql) in MigrationScripts.Load(typeof(SqliteStore).Assembly, "Cybexp.Report.Storage.Sqlite.Migrations.").Where(s => s.Version > 3 && s.Version <= version))
        {
            Exec(sql);
            Exec("INSERT INTO schema_migrations (version, name) VALUES ($v, $n);", ("$v", v), ("$n", name));
        }

        tx.Commit();
    }
}
