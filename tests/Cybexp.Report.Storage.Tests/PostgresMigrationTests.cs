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

        await AssertSameAnswersAsync(ds, fresh, migrated);

        // The migrated schema takes later versions of its events like a fresh one: the old reference rows go.
        var ev = ds.Events.First(e => e.Category != "malicious" && e.Hash != replaced.Hash);
        var edited = Edit(ev, d => d.With("category", TahoeValue.String("malicious")));
        Assert.Equal(new WriteSummary(0, 0, 1), await migrated.Archive.WriteAsync([edited], Ct));
        Assert.Equal(new WriteSummary(0, 0, 1), await fresh.Archive.WriteAsync([edited], Ct));
        Assert.Equal(new WriteSummary(0, ds.Everything.Count(), 0), await migrated.Archive.WriteAsync([.. final.Select(d => d.Hash == ev.Hash ? edited : d)], Ct));
        await AssertSameAnswersAsync(ds, fresh, migrated);

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

    private static ArchiveDocument Edit(ArchiveDocument doc, Func<TahoeDict, TahoeDict> change)
    {
        Assert.True(ArchiveDocument.TryCreate(change(doc.Document), out var edited, out var error), error);
        return edited!;
    }

    private static async Task AssertSameAnswersAsync(Dataset ds, ICybexpStore fresh, ICybexpStore migrated)
    {
        Assert.Equal(await fresh.Archive.CountByItypeAsync(Ct), await migrated.Archive.CountByItypeAsync(Ct));
        Assert.Equal(await fresh.Archive.CountDanglingReferencesAsync(Ct), await migrated.Archive.CountDanglingReferencesAsync(Ct));
        var refs = ds.Events.SelectMany(e => e.Ref).Distinct().ToList();
        var times = ds.Events.Select(e => e.Timestamp ?? 0).Order().ToList();
        var mid = times[times.Count / 2];
        EventFilter[] filters =
        [
            EventFilter.Everything,
            new(double.NegativeInfinity, mid, null, EventContext.All),
            new(mid, double.PositiveInfinity, "malicious", EventContext.All),
            new(double.NegativeInfinity, double.PositiveInfinity, "benign", EventContext.All),
            new(double.NegativeInfinity, double.PositiveInfinity, "unknown", EventContext.All),
            new(double.NegativeInfinity, double.PositiveInfinity, null, EventContext.Malicious),
            new(double.NegativeInfinity, double.PositiveInfinity, null, EventContext.Benign),
            new(double.NegativeInfinity, double.PositiveInfinity, null, EventContext.Unknown),
        ];
        foreach (var vis in ds.Users.Select(u => ds.VisibilityOf(u.Value)).Append(new Visibility([.. ds.Events.Select(e => e.OrgId!).Distinct()])))
        {
            foreach (var r in refs)
            {
                foreach (var f in filters)
                {
                    Assert.Equal(await fresh.Archive.CountEventsAsync(r, f, vis, Ct), await migrated.Archive.CountEventsAsync(r, f, vis, Ct));
                    Assert.Equal(await fresh.Archive.EventTimeSpanAsync(r, f, vis, Ct), await migrated.Archive.EventTimeSpanAsync(r, f, vis, Ct));
                }

                Assert.Equal(
                    await fresh.Archive.CountEventsByBucketAsync(r, EventFilter.Everything, vis, times[0], 3600, Ct),
                    await migrated.Archive.CountEventsByBucketAsync(r, EventFilter.Everything, vis, times[0], 3600, Ct));
                Assert.Equal(
                    await fresh.Archive.PageEventsAsync(r, EventFilter.Everything, vis, 0, 1000, Ct),
                    await migrated.Archive.PageEventsAsync(r, EventFilter.Everything, vis, 0, 1000, Ct));
                Assert.Equal(
                    await fresh.Archive.PageEventsAsync(r, filters[2], vis, 1, 2, Ct),
                    await migrated.Archive.PageEventsAsync(r, filters[2], vis, 1, 2, Ct));
            }

            Assert.Equal(await EdgesAsync(fresh, vis), await EdgesAsync(migrated, vis));
            foreach (var session in ds.Tahoe.Where(d => d.Itype == "session"))
            {
                Assert.Equal(
                    await fresh.Archive.EventsOfSessionAsync(session.Hash, vis, 1000, Ct),
                    await migrated.Archive.EventsOfSessionAsync(session.Hash, vis, 1000, Ct));
            }
        }

        foreach (var e in ds.Events)
        {
            Assert.Equal(await fresh.Archive.SessionsOfEventAsync(e.Hash, Ct), await migrated.Archive.SessionsOfEventAsync(e.Hash, Ct));
        }

        var all = ds.Everything.Select(d => d.Hash).ToList();
        Assert.Equal(
            (await fresh.Archive.GetDocumentsAsync(all, Ct)).Select(StoredDocumentText.Of),
            (await migrated.Archive.GetDocumentsAsync(all, Ct)).Select(StoredDocumentText.Of));
        Assert.Equal(
            (await fresh.Archive.AttributesAmongAsync(all, Ct)).Order(),
            (await migrated.Archive.AttributesAmongAsync(all, Ct)).Order());
    }

    private static async Task<List<string>> EdgesAsync(ICybexpStore store, Visibility vis)
    {
        var result = new List<string>();
        await foreach (var e in store.Archive.VisibleEventsAsync(vis, Ct))
        {
            result.Add($"{e.Hash} {e.Timestamp} {e.Category} {string.Join(',', e.Ref.Order())}");
        }

        return result;
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
