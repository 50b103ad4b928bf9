using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Reports;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Storage.Sqlite;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// The count and related engines against brute-force references computed from the documents in memory, on random
/// archives with hubs, nested objects, contexts, categories, sessions across orgs and users in one, two or no orgs;
/// and the access rule: a user of org A gets identical reports whether or not org B's events exist.
/// </summary>
public sealed class EngineReferenceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-engines-").FullName;

    private static CancellationToken Ct => CancellationToken.None;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // left to the OS temp cleaner
        }
    }

    private async Task<ICybexpStore> StoreAsync(IEnumerable<ArchiveDocument> docs)
    {
        var store = await SqliteStore.OpenAsync(Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".db"), TimeProvider.System, Ct);
        await store.Archive.WriteAsync([.. docs], Ct);
        return store;
    }

    private static IEnumerable<ReportQuery> Queries(RandomArchive archive, Random rng, string qtype, int n)
    {
        for (var i = 0; i < n; i++)
        {
            var (st, data) = archive.Attributes[rng.Next(archive.Attributes.Count)];
            var times = archive.Events.Select(e => e.Timestamp!.Value).Order().ToList();
            var bounded = rng.Next(3) == 0;
            yield return new ReportQuery
            {
                QType = qtype,
                SubType = st,
                Data = data,
                Category = rng.Next(3) == 0 ? new[] { "malicious", "benign", "unknown" }[rng.Next(3)] : null,
                Context = (EventContext)rng.Next(4),
                From = bounded ? times[times.Count / 4].ToString("R", System.Globalization.CultureInfo.InvariantCulture) : null,
                To = bounded ? times[3 * times.Count / 4].ToString("R", System.Globalization.CultureInfo.InvariantCulture) : null,
                Level = rng.Next(1, 4),
                Page = rng.Next(4) == 0 ? 2 : 1,
                Summary = rng.Next(3) != 0,
                SummaryGraph = rng.Next(5) == 0,
                ReturnType = new[] { "all", "attribute", "event", "object", "session" }[rng.Next(5)],
            };
        }
    }

    private static EventFilter FilterOf(ReportQuery q) =>
        new(q.From is null ? 0 : double.Parse(q.From, System.Globalization.CultureInfo.InvariantCulture),
            q.To is null ? 0 : double.Parse(q.To, System.Globalization.CultureInfo.InvariantCulture),
            q.Category,
            q.Context);

    [Fact]
    public async Task Count_EqualsBruteForce_OnRandomArchives()
    {
        for (var seed = 1; seed <= 6; seed++)
        {
            var archive = RandomArchive.Generate(seed);
            await using var store = await StoreAsync(archive.Documents);
            var rng = new Random(seed);
            foreach (var (name, user) in archive.Users)
            {
                var vis = await store.Identity.VisibilityOfAsync(user, Ct);
                foreach (var q in Queries(archive, rng, QueryTypes.Count, 25))
                {
                    var f = FilterOf(q);
                    var attr = AttributeHash.Of(q.SubType!, q.Data!);
                    var expected = archive.Events.Count(e => Matches(e, attr, f, vis));
                    var actual = await new CountEngine(store.Archive).RunAsync(q, f, vis, Ct);
                    Assert.True(TahoeValue.Int(expected).Equals(actual.Data), $"seed {seed} user {name} {q}: expected {expected}, got {actual.Data}");
                }
            }
        }
    }

    [Fact]
    public async Task Related_EqualsBruteForce_OnRandomArchives()
    {
        for (var seed = 1; seed <= 6; seed++)
        {
            var archive = RandomArchive.Generate(seed, events: 60);
            await using var store = await StoreAsync(archive.Documents);
            var rng = new Random(100 + seed);
            foreach (var (name, user) in archive.Users)
            {
                var vis = await store.Identity.VisibilityOfAsync(user, Ct);
                foreach (var q in Queries(archive, rng, QueryTypes.Related, 30))
                {
                    var f = FilterOf(q);
                    var expected = ReferenceRelated(archive, q, f, vis);
                    var actual = await new RelatedEngine(store.Archive).RunAsync(q, f, vis, Ct);
                    Assert.True(expected.Data.Equals(Comparable(actual.Data, q)), $"seed {seed} user {name} {q}:\nexpected {expected.Data}\nactual   {Comparable(actual.Data, q)}");
                    Assert.Equal(expected.NextPage, actual.NextPage);
                    Assert.Equal(q.Page, actual.CurrentPage);
                }
            }
        }
    }

    [Fact]
    public async Task EveryReportType_IsIdenticalForAUserOfOrgA_WhetherOrNotOrgBsEventsExist()
    {
        for (var seed = 1; seed <= 4; seed++)
        {
            var archive = RandomArchive.Generate(seed, events: 50);
            var orgB = archive.OrgB;
            var bEvents = archive.Events.Where(e => e.OrgId == orgB).Select(e => e.Hash).ToHashSet();
            Assert.NotEmpty(bEvents);
            // Without B: B's events are gone, and sessions list only A's events.
            var withoutB = archive.Documents
                .Where(d => !bEvents.Contains(d.Hash))
                .Select(d => d.Itype == "session" ? Rebuild(d, d.Document.With("_ref", TahoeValue.List(d.Ref.Where(r => !bEvents.Contains(r)).Select(r => (TahoeValue)TahoeValue.String(r.Value))))) : d)
                .ToList();
            await using var full = await StoreAsync(archive.Documents);
            await using var partial = await StoreAsync(withoutB);
            var user = archive.Users["a"].Value;
            var rng = new Random(seed);
            var now = 1_600_000_000 + (400 * 43_200.0);
            var queries = new List<(string QType, TahoeValue Qdata)>();
            foreach (var q in Queries(archive, rng, QueryTypes.Count, 20).Concat(Queries(archive, rng, QueryTypes.Related, 40)))
            {
                queries.Add((q.QType, ToQdata(q)));
            }

            foreach (var e in archive.Events.Where(e => e.OrgId == archive.OrgA))
            {
                queries.Add((QueryTypes.ThreatRank, TahoeValue.Dict(("_hash", TahoeValue.String(e.Hash.Value)))));
                queries.Add((QueryTypes.ThreatRank, TahoeValue.Dict(("_hash", TahoeValue.String(e.Hash.Value)), ("explain", TahoeValue.True))));
            }

            queries.Add((QueryTypes.ThreatRank, TahoeValue.Dict(("last", TahoeValue.String("400 d")), ("top", TahoeValue.Int(50)))));
            foreach (var b in bEvents.Take(3))
            {
                queries.Add((QueryTypes.ThreatRank, TahoeValue.Dict(("_hash", TahoeValue.String(b.Value)))));
            }

            foreach (var (qtype, qdata) in queries)
            {
                var input = new QueryInput(qtype, Canonical.Of(qdata), false, user);
                var a = await new ReportRunner(full, null).RunAsync(input, now, Ct);
                var b = await new ReportRunner(partial, null).RunAsync(input, now, Ct);
                Assert.True(a.Report["data"]!.Equals(b.Report["data"]), $"seed {seed} {qtype} {qdata}:\nwith B    {a.Report["data"]}\nwithout B {b.Report["data"]}");
                Assert.Equal(a.Status, b.Status);
                Assert.Equal(TahoeJsonWriter.Write(a.Report), TahoeJsonWriter.Write(b.Report));
            }
        }
    }

    private static ArchiveDocument Rebuild(ArchiveDocument d, TahoeDict doc) =>
        ArchiveDocument.TryCreate(doc, out var r, out var error) ? r! : throw new InvalidOperationException(error);

    private static TahoeValue ToQdata(ReportQuery q)
    {
        var e = new List<KeyValuePair<string, TahoeValue>>
        {
            new("sub_type", TahoeValue.String(q.SubType!)),
            new("data", q.Data!),
            new("context", TahoeValue.String(q.Context.ToString().ToLowerInvariant())),
        };
        if (q.Category is not null)
        {
            e.Add(new("category", TahoeValue.String(q.Category)));
        }

        if (q.From is not null)
        {
            e.Add(new("from", TahoeValue.String(q.From)));
            e.Add(new("to", TahoeValue.String(q.To!)));
        }

        if (q.QType == QueryTypes.Related)
        {
            e.Add(new("level", TahoeValue.Int(q.Level)));
            e.Add(new("page", TahoeValue.Int(q.Page)));
            e.Add(new("summary", TahoeValue.Bool(q.Summary)));
            e.Add(new("summary_graph", TahoeValue.Bool(q.SummaryGraph)));
            e.Add(new("return_type", TahoeValue.String(q.ReturnType)));
        }

        return TahoeValue.Dict(e);
    }

    private static bool Matches(ArchiveDocument e, InstanceHash attr, EventFilter f, Visibility vis) =>
        vis.OrgIds.Contains(e.OrgId!) && e.Timestamp >= f.Lower && e.Timestamp <= f.Upper &&
        (f.Category is null || e.Category == f.Category) &&
        f.Context switch
        {
            EventContext.All => e.Ref.Contains(attr),
            EventContext.Benign => e.BenRef.Contains(attr),
            EventContext.Malicious => e.MalRef.Contains(attr),
            _ => e.Ref.Contains(attr) && !e.BenRef.Contains(attr) && !e.MalRef.Contains(attr),
        };

    /// <summary>The original's related_hash recursion, written plainly over the documents.</summary>
    private static ReportResult ReferenceRelated(RandomArchive archive, ReportQuery q, EventFilter f, Visibility vis)
    {
        var attr = AttributeHash.Of(q.SubType!, q.Data!);
        var docs = archive.Documents;
        var byHash = docs.ToDictionary(d => d.Hash);
        var matching = archive.Events.Where(e => Matches(e, attr, f, vis)).ToList();
        var page = matching.Skip((q.Page - 1) * 10).Take(10).ToList();
        int? next = matching.Count > q.Page * 10 ? q.Page + 1 : null;

        HashSet<InstanceHash> EventRelated(ArchiveDocument e, int level)
        {
            var s = new HashSet<InstanceHash>(e.Ref) { e.Hash };
            if (level == 0)
            {
                return s;
            }

            foreach (var session in docs.Where(d => d.Itype == "session" && d.Ref.Contains(e.Hash)))
            {
                s.Add(session.Hash);
                var events = session.Ref.Where(byHash.ContainsKey).Select(h => byHash[h])
                    .Where(x => x.Itype == "event" && vis.OrgIds.Contains(x.OrgId!))
                    .OrderBy(x => x.Timestamp).ThenBy(x => docs.ToList().IndexOf(x)).Take(10);
                foreach (var e2 in events)
                {
                    s.UnionWith(EventRelated(e2, level - 1));
                }
            }

            return s;
        }

        var rel = new HashSet<InstanceHash>();
        foreach (var e in page)
        {
            rel.UnionWith(EventRelated(e, q.Level - 1));
        }

        var found = docs.Where(d => rel.Contains(d.Hash)).ToList();
        if (page.Count == 0)
        {
            return new ReportResult(q.Summary || q.SummaryGraph ? TahoeDict.Empty : TahoeValue.List(), q.Page, null);
        }

        if (q.SummaryGraph)
        {
            // Compare shortest-path lengths (node counts), as the golden vectors do.
            var adj = new Dictionary<InstanceHash, List<InstanceHash>>();
            foreach (var d in found)
            {
                foreach (var c in d.Itype is "object" or "event" ? d.Cref : d.Itype == "session" ? d.Ref : [])
                {
                    (adj.TryGetValue(d.Hash, out var l1) ? l1 : adj[d.Hash] = []).Add(c);
                    (adj.TryGetValue(c, out var l2) ? l2 : adj[c] = []).Add(d.Hash);
                }
            }

            var dist = new Dictionary<InstanceHash, int> { [attr] = 1 };
            var queue = new Queue<InstanceHash>([attr]);
            while (queue.Count > 0)
            {
                var n = queue.Dequeue();
                foreach (var m in adj.GetValueOrDefault(n, []))
                {
                    if (dist.TryAdd(m, dist[n] + 1))
                    {
                        queue.Enqueue(m);
                    }
                }
            }

            return new ReportResult(Groups(found.Where(d => d.Itype == "attribute" && dist.ContainsKey(d.Hash)), d => TahoeValue.List(d.Document["data"]!, TahoeValue.Int(dist[d.Hash])), sort: true), q.Page, next);
        }

        if (q.Summary)
        {
            return new ReportResult(Groups(found.Where(d => d.Itype == "attribute"), d => d.Document["data"]!, sort: false), q.Page, next);
        }

        var hidden = archive.Events.Where(e => !vis.OrgIds.Contains(e.OrgId!)).Select(e => e.Hash).ToHashSet();
        return new ReportResult(
            TahoeValue.List(found.Where(d => q.ReturnType == "all" || d.Itype == q.ReturnType)
                .Select(d => d.Itype == "session"
                    ? (TahoeValue)d.Document.With("_ref", TahoeValue.List(d.Ref.Where(r => !hidden.Contains(r)).Select(r => (TahoeValue)TahoeValue.String(r.Value))))
                    : d.Document)),
            q.Page,
            next);
    }

    private static TahoeValue Groups(IEnumerable<ArchiveDocument> attrs, Func<ArchiveDocument, TahoeValue> item, bool sort)
    {
        var groups = attrs.GroupBy(a => a.SubType).Select(g => new KeyValuePair<string, TahoeValue>(
            g.Key,
            TahoeValue.List(sort ? g.Select(item).OrderBy(Canonical.Of, StringComparer.Ordinal) : g.Select(item))));
        return TahoeDict.From(groups);
    }

    // summary_graph entries hold the path labels; compare their lengths as the reference does.
    private static TahoeValue Comparable(TahoeValue data, ReportQuery q) => q.SummaryGraph && data is TahoeDict d
        ? TahoeDict.From(d.Entries.Select(e => new KeyValuePair<string, TahoeValue>(e.Key, TahoeValue.List(e.Value.AsList.Items
            .Select(v => TahoeValue.List(v.AsList[0], TahoeValue.Int(v.AsList[1].AsList.Count)))
            .OrderBy(Canonical.Of, StringComparer.Ordinal)))))
        : data;
}

/// <summary>The count time series and the bounded answers of the engines on awkward input.</summary>
public sealed class EngineEdgeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-edges-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // left to the OS temp cleaner
        }
    }

    private async Task<(ICybexpStore Store, Dataset Data)> LoadAsync(string name)
    {
        var ds = Datasets.Named(name);
        var store = await SqliteStore.OpenAsync(Path.Combine(_dir, name + ".db"), TimeProvider.System, CancellationToken.None);
        await store.Archive.WriteAsync([.. ds.Everything], CancellationToken.None);
        return (store, ds);
    }

    private static Task<ReportOutcome> RunAsync(ICybexpStore store, string qtype, string json, InstanceHash user, double now = 1625097600.0) =>
        new ReportRunner(store, null).RunAsync(new QueryInput(qtype, Canonical.Of(PythonJson.Parse(json)), false, user.Value), now, CancellationToken.None);

    [Fact]
    public async Task CountInterval_GivesEveryBucketFromFirstToLastEvent_AndTheTotal()
    {
        var (store, ds) = await LoadAsync("D3_medium");
        await using var _ = store;
        var carol = ds.Users["carol"];
        var vis = ds.VisibilityOf(carol);
        var outcome = await RunAsync(store, "count", """{"sub_type":"ipv4","data":"203.0.113.1","interval":"30d"}""", carol);
        Assert.Equal(QueryStatus.Ready, outcome.Status);
        var data = outcome.Report["data"]!.AsDict;
        var attr = AttributeHash.Of("ipv4", TahoeValue.String("203.0.113.1"));
        var times = ds.Events.Where(e => e.Ref.Contains(attr) && vis.OrgIds.Contains(e.OrgId!)).Select(e => e.Timestamp!.Value).ToList();
        Assert.Equal(TahoeValue.Int(times.Count), data["total"]);
        var buckets = data["buckets"]!.AsList.Items.Select(b => (Start: (double)((TahoeInt)b.AsDict["start"]!).Value, Count: (long)((TahoeInt)b.AsDict["count"]!).Value)).ToList();
        const double width = 30 * 86400;
        Assert.Equal(Math.Floor(times.Min() / width) * width, buckets[0].Start);
        Assert.True(buckets[^1].Start <= times.Max() && times.Max() < buckets[^1].Start + width);
        Assert.All(buckets.Zip(buckets.Skip(1)), p => Assert.Equal(width, p.Second.Start - p.First.Start));
        Assert.All(buckets, b => Assert.Equal(times.Count(t => t >= b.Start && t < b.Start + width), b.Count));
        Assert.Contains(buckets, b => b.Count == 0);
    }

    [Fact]
    public async Task CountInterval_OverABoundedRange_CoversTheRange_AndRefusesTooManyBuckets()
    {
        var (store, ds) = await LoadAsync("D1_tiny");
        await using var _ = store;
        var carol = ds.Users["carol"];
        var ranged = await RunAsync(store, "count", """{"sub_type":"ipv4","data":"198.51.100.7","interval":"1d","from":"2020-01-01","to":"2020-01-10"}""", carol);
        Assert.Equal(10, ranged.Report["data"]!.AsDict["buckets"]!.AsList.Count);
        var tooFine = await RunAsync(store, "count", """{"sub_type":"ipv4","data":"198.51.100.7","interval":"1h","from":"1990-01-01","to":"2020-01-10"}""", carol);
        Assert.Equal(QueryStatus.Failed, tooFine.Status);
        Assert.Contains("'interval'", tooFine.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Related_PageBeyondTheEnd_IsEmptyWithNoNextPage()
    {
        var (store, ds) = await LoadAsync("D4_paging");
        await using var _ = store;
        var outcome = await RunAsync(store, "related", """{"sub_type":"ipv4","data":"192.0.2.99","page":1000000}""", ds.Users["carol"]);
        Assert.Equal(QueryStatus.Ready, outcome.Status);
        Assert.Equal(TahoeDict.Empty, outcome.Report["data"]);
        Assert.Equal(TahoeValue.Null, outcome.Report["next_page"]);
        var first = await RunAsync(store, "related", """{"sub_type":"ipv4","data":"192.0.2.99"}""", ds.Users["carol"]);
        Assert.Equal(TahoeValue.Int(2), first.Report["next_page"]);
    }

    [Fact]
    public async Task ThreatRank_Explain_AndRanking_AreReports()
    {
        var (store, ds) = await LoadAsync("D3_medium");
        await using var _ = store;
        var carol = ds.Users["carol"];
        var target = ds.Events.First(e => e.Category != "malicious");
        var explained = await RunAsync(store, "threatrank", $$"""{"_hash":"{{target.Hash}}","explain":true}""", carol);
        Assert.Equal(QueryStatus.Ready, explained.Status);
        var d = explained.Report["data"]!.AsDict;
        Assert.IsType<TahoeFloat>(d["threatrank"]);
        Assert.All(d["paths"]!.AsList.Items, p => Assert.NotEmpty(p.AsDict["nodes"]!.AsList.Items));
        var ranking = await RunAsync(store, "threatrank", """{"from":"2020-01-01","to":"2021-07-01","top":5}""", carol);
        Assert.Equal(QueryStatus.Ready, ranking.Status);
        var ranked = ranking.Report["data"]!.AsList.Items.Select(r => ((TahoeFloat)r.AsDict["threatrank"]!).Value).ToList();
        Assert.InRange(ranked.Count, 1, 5);
        Assert.Equal(ranked.Order(), ranked);
    }

    [Fact]
    public async Task UnknownUser_Fails_WithoutTouchingTheArchive()
    {
        var (store, _) = await LoadAsync("D1_tiny");
        await using var __ = store;
        var before = await store.Archive.VersionAsync(CancellationToken.None);
        var outcome = await RunAsync(store, "count", """{"sub_type":"ipv4","data":"198.51.100.7"}""", InstanceHash.Of("nobody"));
        Assert.Equal(QueryStatus.Failed, outcome.Status);
        Assert.Contains("unknown user", outcome.Error, StringComparison.Ordinal);
        Assert.Equal(before, await store.Archive.VersionAsync(CancellationToken.None));
    }
}
