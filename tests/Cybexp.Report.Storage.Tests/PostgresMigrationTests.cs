using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Storage.Postgres;
using Npgsql;
using NpgsqlTypes;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// A PostgreSQL archive written with an earlier schema is migrated on open and answers exactly as a store that ingested
/// the same documents with the current schema.
/// </summary>
public sealed class PostgresMigrationTests : IAsyncLifetime
{
    private readonly PostgresSchemas _schemas = new();

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _schemas.DropAllAsync();

    [Fact]
    public async Task Open_MigratesAVersion5Archive_ToCompactEventRefs_WithTheSameAnswers()
    {
        var ds = Datasets.Named("D3_medium");
        Assert.True(ds.Events.Select(e => e.OrgId).Distinct().Count() > 1, "several event owners");
        Assert.Contains(ds.Events, e => e.MalRef.Length > 0);
        Assert.Contains(ds.Events, e => e.BenRef.Length > 0);

        // One event was replaced before the migration: its category and contexts changed, the old rows went.
        var replaced = ds.Events.First(e => e.Category != "malicious" && e.Ref.Length > 1 && e.MalRef.Length < e.Ref.Length);
        var replacement = Edit(replaced, d => d
            .With("category", TahoeValue.String("malicious"))
            .With("_mal_ref", TahoeValue.List(replaced.Ref.Select(r => TahoeValue.String(r.Value))))
            .With("_ben_ref", TahoeValue.List([])));
        var final = ds.Everything.Select(d => d.Hash == replaced.Hash ? replacement : d).ToList();

        var schema = _schemas.NewName();
        await WriteVersion5ArchiveAsync(schema, final);

        await using var migrated = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var fresh = await _schemas.OpenAsync(TimeProvider.System, Ct);
        await fresh.Archive.WriteAsync([.. ds.Everything], Ct);
        Assert.Equal(new WriteSummary(0, 0, 1), await fresh.Archive.WriteAsync([replacement], Ct));

        await SameArchiveAnswers.AssertAsync(ds, fresh, migrated, Ct);

        // The migrated schema takes later versions of its events like a fresh one: the old reference rows go.
        var ev = ds.Events.First(e => e.Category != "malicious" && e.Hash != replaced.Hash);
        var edited = Edit(ev, d => d.With("category", TahoeValue.String("malicious")));
        Assert.Equal(new WriteSummary(0, 0, 1), await migrated.Archive.WriteAsync([edited], Ct));
        Assert.Equal(new WriteSummary(0, 0, 1), await fresh.Archive.WriteAsync([edited], Ct));
        Assert.Equal(new WriteSummary(0, ds.Everything.Count(), 0), await migrated.Archive.WriteAsync([.. final.Select(d => d.Hash == ev.Hash ? edited : d)], Ct));
        await SameArchiveAnswers.AssertAsync(ds, fresh, migrated, Ct);

        // The orgid columns are gone; every event row kept its seq.
        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using (var cmd = new NpgsqlCommand("SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name IN ('events', 'event_refs') AND column_name = 'orgid';", conn))
        {
            cmd.Parameters.AddWithValue(schema);
            Assert.Equal(0L, await cmd.ExecuteScalarAsync(Ct));
        }

        await using (var cmd = new NpgsqlCommand($"SELECT count(*) FROM \"{schema}\".events e JOIN \"{schema}\".instances i ON i.hash = e.hash AND i.seq = e.seq;", conn))
        {
            Assert.Equal((long)ds.Events.Count(), await cmd.ExecuteScalarAsync(Ct));
        }
    }

    [Fact]
    public async Task Open_MigratesAVersion7Archive_ToTheLeanerEventsIndexes_WithTheSameAnswers()
    {
        var ds = Datasets.Named("D3_medium");

        // Back to the version-7 layout, data kept: the B-tree primary key and the (org, seq) index of events, and no
        // record of 0009 and 0010 (documents stay packed, as 0011 left them).
        var schema = await _schemas.WrittenAndRewoundAsync(
            ds,
            "ALTER TABLE events DROP CONSTRAINT events_hash; ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (hash); " +
            "CREATE INDEX events_org_seq ON events (org, seq); DELETE FROM schema_migrations WHERE version IN (9, 10);",
            Ct);
        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using var migrated = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var fresh = await _schemas.OpenAsync(TimeProvider.System, Ct);
        await fresh.Archive.WriteAsync([.. ds.Everything], Ct);
        await SameArchiveAnswers.AssertAsync(ds, fresh, migrated, Ct);

        // events has one index left, the hash index of its exclusion constraint, and it still refuses a second row of
        // an event.
        await using (var cmd = new NpgsqlCommand("SELECT string_agg(indexname || ' ' || indexdef, '; ') FROM pg_indexes WHERE schemaname = $1 AND tablename = 'events';", conn))
        {
            cmd.Parameters.AddWithValue(schema);
            var indexes = (string)(await cmd.ExecuteScalarAsync(Ct))!;
            Assert.StartsWith("events_hash ", indexes, StringComparison.Ordinal);
            Assert.Contains("USING hash (hash)", indexes, StringComparison.Ordinal);
            Assert.DoesNotContain(";", indexes, StringComparison.Ordinal);
        }

        await using (var cmd = new NpgsqlCommand($"INSERT INTO \"{schema}\".events SELECT * FROM \"{schema}\".events LIMIT 1;", conn))
        {
            var refused = await Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteNonQueryAsync(Ct));
            Assert.Equal(PostgresErrorCodes.ExclusionViolation, refused.SqlState);
        }

        await using (var cmd = new NpgsqlCommand($"SELECT count(*) FROM \"{schema}\".schema_migrations WHERE version IN (9, 10);", conn))
        {
            Assert.Equal(2L, await cmd.ExecuteScalarAsync(Ct));
        }

        // Later writes go on as in a fresh store.
        var ev = ds.Events.First(e => e.Category != "malicious");
        var edited = Edit(ev, d => d.With("category", TahoeValue.String("malicious")));
        Assert.Equal(new WriteSummary(0, 0, 1), await migrated.Archive.WriteAsync([edited], Ct));
        Assert.Equal(new WriteSummary(0, 0, 1), await fresh.Archive.WriteAsync([edited], Ct));
        await SameArchiveAnswers.AssertAsync(ds, fresh, migrated, Ct);
    }

    private static ArchiveDocument Edit(ArchiveDocument doc, Func<TahoeDict, TahoeDict> change)
    {
        Assert.True(ArchiveDocument.TryCreate(change(doc.Document), out var edited, out var error), error);
        return edited!;
    }

    /// <summary>
    /// Writes <paramref name="docs"/> (the final version of each document) into <paramref name="schema"/> the way the
    /// store did at schema version 5: events and event_refs keyed by the orgid text, event_refs carrying the event hash
    /// and the category text.
    /// </summary>
    private static async Task WriteVersion5ArchiveAsync(string schema, IReadOnlyList<ArchiveDocument> docs)
    {
        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using var tx = await conn.BeginTransactionAsync(Ct);
        async Task Exec(string sql, params object[] args)
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            foreach (var a in args)
            {
                cmd.Parameters.Add(a is NpgsqlParameter p ? p : new NpgsqlParameter { Value = a });
            }

            await cmd.ExecuteNonQueryAsync(Ct);
        }

        await Exec($"CREATE SCHEMA \"{schema}\";");
        await Exec($"SET LOCAL search_path TO \"{schema}\";");
        await Exec("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());");
        foreach (var (v, name, sql) in MigrationScripts.Load(typeof(PostgresStore).Assembly, "Cybexp.Report.Storage.Postgres.Migrations.").Where(s => s.Version <= 5))
        {
            await Exec(sql);
            await Exec("INSERT INTO schema_migrations (version, name) VALUES ($1, $2);", v, name);
        }

        long seq = 0;
        foreach (var doc in docs)
        {
            seq++;
            await Exec("INSERT INTO instances (hash, seq, itype, sub_type, doc) VALUES ($1, $2, $3, $4, $5);", doc.Hash.ToBytes(), seq, doc.Itype, doc.SubType, StoredDocumentText.Of(doc));
            if (doc.Itype == "event")
            {
                var packed = doc.Ref.SelectMany(r => r.ToBytes()).ToArray();
                await Exec("INSERT INTO events (hash, seq, orgid, ts, category, refs) VALUES ($1, $2, $3, $4, $5, $6);",
                    doc.Hash.ToBytes(), seq, doc.OrgId ?? string.Empty, doc.Timestamp ?? 0, doc.Category ?? "unknown", packed);
                foreach (var r in doc.Ref)
                {
                    var ctx = (short)(doc.MalRef.Contains(r) ? 2 : doc.BenRef.Contains(r) ? 1 : 0);
                    await Exec("INSERT INTO event_refs (ref_hash, orgid, ts, event_seq, event_hash, ctx, category) VALUES ($1, $2, $3, $4, $5, $6, $7);",
                        r.ToBytes(), doc.OrgId ?? string.Empty, doc.Timestamp ?? 0, seq, doc.Hash.ToBytes(), ctx, doc.Category ?? "unknown");
                }
            }
            else if (doc.Itype == "session")
            {
                foreach (var e in doc.Ref)
                {
                    await Exec("INSERT INTO session_events (event_hash, session_hash, session_seq) VALUES ($1, $2, $3);", e.ToBytes(), doc.Hash.ToBytes(), seq);
                }
            }
            else if (doc.IsUser)
            {
                var u = IdentityDocuments.User(doc);
                await Exec("INSERT INTO users (hash, email, name, sub_type) VALUES ($1, $2, $3, $4);", doc.Hash.ToBytes(), u.Email, u.Name, u.SubType);
            }
            else if (doc.IsOrg)
            {
                var o = IdentityDocuments.Org(doc);
                await Exec("INSERT INTO orgs (hash, orgname, name) VALUES ($1, $2, $3);", doc.Hash.ToBytes(), o.OrgName, o.Name);
                foreach (var (members, role) in new[] { (o.Users, (short)0), (o.Admins, (short)1) })
                {
                    foreach (var m in members)
                    {
                        await Exec("INSERT INTO org_members (user_hash, role, org_hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING;", m.ToBytes(), role, doc.Hash.ToBytes());
                    }
                }
            }
        }

        await Exec("SELECT setval('instance_seq', $1);", seq);
        await tx.CommitAsync(Ct);
    }
}
