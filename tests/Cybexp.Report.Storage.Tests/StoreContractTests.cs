using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Microsoft.Extensions.Time.Testing;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// The contract every store adapter meets. Concrete subclasses supply a fresh, empty store per test; the same tests
/// run unchanged against SQLite and PostgreSQL.
/// </summary>
public abstract class StoreContractTests
{
    protected FakeTimeProvider Time { get; } = new(DateTimeOffset.FromUnixTimeSeconds(1_625_097_600));

    /// <summary>A new empty store isolated from every other test.</summary>
    protected abstract Task<ICybexpStore> NewStoreAsync();

    /// <summary>A new store and a second, separately opened store on the same data: what two processes see.</summary>
    protected abstract Task<(ICybexpStore First, ICybexpStore Second)> NewStoreTwiceAsync();

    // Bounds every store call so a hung database fails the test instead of the run.
    protected static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    private async Task<ICybexpStore> LoadedAsync(Dataset ds)
    {
        var store = await NewStoreAsync();
        await store.Archive.WriteAsync([.. ds.Everything], Ct);
        return store;
    }

    [Fact]
    public async Task Write_InsertsOnce_AndReportsDuplicatesOnSecondWrite()
    {
        var ds = Datasets.Named("D2_small");
        await using var store = await NewStoreAsync();
        var first = await store.Archive.WriteAsync([.. ds.Everything], Ct);
        var second = await store.Archive.WriteAsync([.. ds.Everything], Ct);
        var total = ds.Everything.Count();
        Assert.Equal(new WriteSummary(total, 0, 0), first);
        Assert.Equal(new WriteSummary(0, total, 0), second);
        var byItype = await store.Archive.CountByItypeAsync(Ct);
        Assert.Equal(ds.Events.LongCount(), byItype["event"]);
    }

    [Fact]
    public async Task Write_NumbersNewDocumentsInInputOrder_WhenABatchMixesStoredAndNewOnes()
    {
        var ds = Datasets.Named("D2_small");
        await using var store = await NewStoreAsync();
        var all = ds.Everything.ToList();
        var stored = all.Where((_, i) => i % 3 == 1).ToList();
        await store.Archive.WriteAsync(stored, Ct);

        // Stored and new documents alternate in the batch: each new one is numbered after the stored ones, in order.
        var summary = await store.Archive.WriteAsync(all, Ct);
        Assert.Equal(new WriteSummary(all.Count - stored.Count, stored.Count, 0), summary);
        var expected = stored.Concat(all.Where((_, i) => i % 3 != 1)).Select(d => d.Hash).ToList();
        var firstStoredOrder = await store.Archive.GetDocumentsAsync([.. all.Select(d => d.Hash).Reverse()], Ct);
        Assert.Equal(expected, firstStoredOrder.Select(d => d.Hash).ToList());

        // The event rows carry the same numbers: every event is streamed once, in that order, with its own time.
        var everyOrg = new Visibility(ds.Events.Select(e => e.OrgId!).Distinct());
        var events = new List<(InstanceHash, double)>();
        await foreach (var e in store.Archive.VisibleEventsAsync(everyOrg, Ct))
        {
            events.Add((e.Hash, e.Timestamp));
        }

        var byHash = ds.Events.ToDictionary(e => e.Hash);
        Assert.Equal(expected.Where(byHash.ContainsKey).Select(h => (h, byHash[h].Timestamp ?? 0)).ToList(), events);
    }

    [Fact]
    public async Task Write_ReplacesMutableFields_WhenSameHashArrivesWithNewContent()
    {
        var ds = Datasets.Named("D1_tiny");
        await using var store = await LoadedAsync(ds);
        var ev = ds.Events.First(e => e.Category != "malicious");
        var attr = ev.Ref[0];
        var everyone = new Visibility([ev.OrgId!]);
        var malicious = new EventFilter(0, 0, "malicious", EventContext.All);
        var before = await store.Archive.CountEventsAsync(attr, malicious, everyone, Ct);
        Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String("malicious")), out var edited, out var error), error);
        var summary = await store.Archive.WriteAsync([edited!], Ct);
        Assert.Equal(new WriteSummary(0, 0, 1), summary);
        Assert.Equal(before + 1, await store.Archive.CountEventsAsync(attr, malicious, everyone, Ct));
        var reread = Assert.Single(await store.Archive.GetDocumentsAsync([ev.Hash], Ct));
        Assert.Equal("malicious", reread.Category);
    }

    [Fact]
    public async Task WriteTransaction_CommitsEveryChunkTogether_AsOneWriteWould()
    {
        var ds = Datasets.Named("D2_small");
        var all = ds.Everything.ToList();
        await using var chunked = await NewStoreAsync();
        await using var whole = await NewStoreAsync();
        WriteSummary summary;
        await using (var write = await chunked.Archive.BeginWriteAsync(Ct))
        {
            // Chunks of 7: events, their attributes and sessions land in different chunks of one transaction.
            foreach (var chunk in all.Chunk(7))
            {
                await write.AddAsync(chunk, Ct);
            }

            summary = await write.CommitAsync(Ct);
        }

        Assert.Equal(new WriteSummary(all.Count, 0, 0), summary);
        Assert.Equal(new WriteSummary(all.Count, 0, 0), await whole.Archive.WriteAsync(all, Ct));
        Assert.Equal(await whole.Archive.CountByItypeAsync(Ct), await chunked.Archive.CountByItypeAsync(Ct));
        var everyOrg = new Visibility(ds.Events.Select(e => e.OrgId!).Distinct());
        foreach (var attr in ds.Events.SelectMany(e => e.Ref).Distinct().Take(40))
        {
            Assert.Equal(await whole.Archive.CountEventsAsync(attr, EventFilter.Everything, everyOrg, Ct), await chunked.Archive.CountEventsAsync(attr, EventFilter.Everything, everyOrg, Ct));
            Assert.Equal(await whole.Archive.PageEventsAsync(attr, EventFilter.Everything, everyOrg, 0, 50, Ct), await chunked.Archive.PageEventsAsync(attr, EventFilter.Everything, everyOrg, 0, 50, Ct));
        }

        foreach (var session in all.Where(d => d.Itype == "session"))
        {
            Assert.Equal(await whole.Archive.EventsOfSessionAsync(session.Hash, everyOrg, 100, Ct), await chunked.Archive.EventsOfSessionAsync(session.Hash, everyOrg, 100, Ct));
        }

        Assert.Equal(await whole.Archive.CountDanglingReferencesAsync(Ct), await chunked.Archive.CountDanglingReferencesAsync(Ct));
    }

    [Fact]
    public async Task WriteTransaction_DisposedWithoutCommit_StoresNothing_AndTheStoreStaysWritable()
    {
        var ds = Datasets.Named("D1_tiny");
        var all = ds.Everything.ToList();
        await using var store = await NewStoreAsync();
        var v0 = await store.Archive.VersionAsync(Ct);
        await using (var write = await store.Archive.BeginWriteAsync(Ct))
        {
            await write.AddAsync(all.Take(all.Count / 2).ToList(), Ct);
            await write.AddAsync(all.Skip(all.Count / 2).ToList(), Ct);
        }

        Assert.DoesNotContain(await store.Archive.CountByItypeAsync(Ct), kv => kv.Value > 0);
        Assert.Equal(v0, await store.Archive.VersionAsync(Ct));
        var everyOrg = new Visibility(ds.Events.Select(e => e.OrgId!).Distinct());
        var attr = ds.Events.First().Ref[0];
        Assert.Equal(0, await store.Archive.CountEventsAsync(attr, EventFilter.Everything, everyOrg, Ct));

        // Nothing of the abandoned transaction is left behind, not even for the next transaction to write: a write of
        // other documents adds no index rows of the abandoned events, and writing everything afterwards inserts
        // everything.
        var identity = ds.Identity.ToList();
        Assert.Equal(new WriteSummary(identity.Count, 0, 0), await store.Archive.WriteAsync(identity, Ct));
        Assert.Equal(0, await store.Archive.CountEventsAsync(attr, EventFilter.Everything, everyOrg, Ct));
        Assert.Equal(0, await store.Archive.CountDanglingReferencesAsync(Ct));
        Assert.Equal(new WriteSummary(all.Count - identity.Count, identity.Count, 0), await store.Archive.WriteAsync(all, Ct));
        Assert.True(await store.Archive.CountEventsAsync(attr, EventFilter.Everything, everyOrg, Ct) > 0);
    }

    [Fact]
    public async Task Write_ChangesVersion_OnlyWhenSomethingChanged()
    {
        var ds = Datasets.Named("D1_tiny");
        await using var store = await NewStoreAsync();
        var v0 = await store.Archive.VersionAsync(Ct);
        await store.Archive.WriteAsync([.. ds.Everything], Ct);
        var v1 = await store.Archive.VersionAsync(Ct);
        await store.Archive.WriteAsync([.. ds.Everything], Ct);
        Assert.NotEqual(v0, v1);
        Assert.Equal(v1, await store.Archive.VersionAsync(Ct));
    }

    [Fact]
    public async Task CountEvents_EqualsBruteForce_ForEveryReferenceUserAndFilter()
    {
        foreach (var name in new[] { "D1_tiny", "D3_medium" })
        {
            var ds = Datasets.Named(name);
            await using var store = await LoadedAsync(ds);
            var referenced = ds.Events.SelectMany(e => e.Ref).Distinct().Order().ToList();
            var times = ds.Events.Select(e => e.Timestamp!.Value).Order().ToList();
            var filters = new List<EventFilter> { EventFilter.Everything };
            foreach (var ctx in Enum.GetValues<EventContext>())
            {
                foreach (var cat in new string?[] { null, "malicious", "benign", "unknown" })
                {
                    filters.Add(new EventFilter(times[times.Count / 3], times[2 * times.Count / 3], cat, ctx));
                    filters.Add(new EventFilter(0, 0, cat, ctx));
                }
            }

            foreach (var (user, hash) in ds.Users)
            {
                var vis = await store.Identity.VisibilityOfAsync(hash, Ct);
                Assert.Equal(string.Join(",", ds.VisibilityOf(hash).OrgIds), string.Join(",", vis.OrgIds));
                foreach (var r in referenced)
                {
                    foreach (var f in filters)
                    {
                        var expected = ds.ReferenceCount(r, f, vis);
                        var actual = await store.Archive.CountEventsAsync(r, f, vis, Ct);
                        Assert.True(expected == actual, $"{name} user {user} ref {r} filter {f}: expected {expected}, got {actual}");
                    }
                }
            }
        }
    }

    /// <summary>
    /// Counts asked at once (a worker computes several reports together; PostgreSQL sends the counts that wait for a
    /// round trip in one batch) each get their own answer, and a caller that gives up does not disturb the others.
    /// </summary>
    [Fact]
    public async Task CountEvents_AskedConcurrently_EachCallerGetsItsOwnAnswer()
    {
        var ds = Datasets.Named("D3_medium");
        await using var store = await LoadedAsync(ds);
        var referenced = ds.Events.SelectMany(e => e.Ref).Distinct().Order().Take(60).ToList();
        var times = ds.Events.Select(e => e.Timestamp!.Value).Order().ToList();
        EventFilter[] filters =
        [
            EventFilter.Everything,
            new(times[times.Count / 3], times[2 * times.Count / 3], null, EventContext.All),
            new(0, 0, "malicious", EventContext.All),
            new(0, 0, null, EventContext.Benign),
        ];
        var asks = new List<(InstanceHash Ref, EventFilter Filter, Visibility Vis, bool GiveUp)>();
        foreach (var (_, hash) in ds.Users)
        {
            var vis = ds.VisibilityOf(hash);
            asks.AddRange(from r in referenced from f in filters select (r, f, vis, asks.Count % 7 == 3));
        }

        using var gaveUp = new CancellationTokenSource();
        await gaveUp.CancelAsync();
        var tasks = asks.Select(a => store.Archive.CountEventsAsync(a.Ref, a.Filter, a.Vis, a.GiveUp ? gaveUp.Token : Ct)).ToList();
        for (var i = 0; i < asks.Count; i++)
        {
            var (r, f, vis, giveUp) = asks[i];
            try
            {
                Assert.Equal(ds.ReferenceCount(r, f, vis), await tasks[i]);
            }
            catch (OperationCanceledException) when (giveUp)
            {
                // Gave up (a store may also answer a count it needs no work for, e.g. for a user in no org).
            }
        }
    }

    [Fact]
    public async Task PageEvents_FollowFirstStoredOrder_AndPagesPartitionTheResult()
    {
        var ds = Datasets.Named("D4_paging");
        await using var store = await LoadedAsync(ds);
        var carol = ds.Users["carol"];
        var vis = await store.Identity.VisibilityOfAsync(carol, Ct);
        var hub = ds.Events.SelectMany(e => e.Ref).GroupBy(h => h).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        var expected = ds.Events.Where(e => e.Ref.Contains(hub) && vis.OrgIds.Contains(e.OrgId!)).Select(e => e.Hash).ToList();
        Assert.True(expected.Count > 10);
        var pages = new List<InstanceHash>();
        for (var skip = 0; skip < expected.Count + 10; skip += 10)
        {
            pages.AddRange(await store.Archive.PageEventsAsync(hub, EventFilter.Everything, vis, skip, 10, Ct));
        }

        Assert.Equal(expected, pages);
    }

    [Fact]
    public async Task EventTimeSpanAndBuckets_AgreeWithTheEvents()
    {
        var ds = Datasets.Named("D3_medium");
        await using var store = await LoadedAsync(ds);
        var vis = ds.VisibilityOf(ds.Users["carol"]);
        var attr = ds.Events.SelectMany(e => e.Ref).GroupBy(h => h).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        var times = ds.Events.Where(e => e.Ref.Contains(attr) && vis.OrgIds.Contains(e.OrgId!)).Select(e => e.Timestamp!.Value).ToList();
        var span = await store.Archive.EventTimeSpanAsync(attr, EventFilter.Everything, vis, Ct);
        Assert.Equal((times.Min(), times.Max()), span);
        var buckets = await store.Archive.CountEventsByBucketAsync(attr, EventFilter.Everything, vis, times.Min(), 86400, Ct);
        Assert.Equal(times.Count, buckets.Sum(b => b.Count));
        foreach (var b in buckets)
        {
            Assert.Equal(times.Count(t => t >= b.Start && t < b.Start + 86400), b.Count);
        }
    }

    [Fact]
    public async Task Sessions_LinkEventsBothWays_AndSessionEventsAreVisibilityFiltered()
    {
        var ds = Datasets.Named("D3_medium");
        await using var store = await LoadedAsync(ds);
        var sessions = ds.Tahoe.Where(d => d.Itype == "session").ToList();
        Assert.NotEmpty(sessions);
        foreach (var s in sessions)
        {
            var events = ds.Events.Where(e => s.Ref.Contains(e.Hash)).ToList();
            foreach (var e in events)
            {
                Assert.Contains(s.Hash, await store.Archive.SessionsOfEventAsync(e.Hash, Ct));
            }

            foreach (var (_, user) in ds.Users)
            {
                var vis = ds.VisibilityOf(user);
                var expected = events.Where(e => vis.OrgIds.Contains(e.OrgId!)).OrderBy(e => e.Timestamp).Take(10).Select(e => e.Hash).ToHashSet();
                var actual = await store.Archive.EventsOfSessionAsync(s.Hash, vis, 10, Ct);
                Assert.Equal(expected.Count, actual.Count);
                Assert.All(actual, h => Assert.Contains(h, expected));
            }
        }
    }

    [Fact]
    public async Task VisibleEvents_StreamsExactlyTheUsersEvents_WithTheirAttributes()
    {
        var ds = Datasets.Named("D2_small");
        await using var store = await LoadedAsync(ds);
        foreach (var (_, user) in ds.Users)
        {
            var vis = ds.VisibilityOf(user);
            var expected = ds.Events.Where(e => vis.OrgIds.Contains(e.OrgId!)).ToList();
            var actual = new List<EventEdges>();
            await foreach (var e in store.Archive.VisibleEventsAsync(vis, Ct))
            {
                actual.Add(e);
            }

            Assert.Equal(expected.Select(e => e.Hash), actual.Select(e => e.Hash));
            var attributes = ds.Tahoe.Where(d => d.Itype == "attribute").Select(d => d.Hash).ToHashSet();
            Assert.All(actual, e => Assert.Equal(expected.Single(x => x.Hash == e.Hash).Ref.Where(attributes.Contains), e.Ref.Order()));
        }
    }

    [Fact]
    public async Task GetDocuments_ReturnsStoredDocumentsUnchanged_AndSkipsMissing()
    {
        var ds = Datasets.Named("D1_tiny");
        await using var store = await LoadedAsync(ds);
        var missing = InstanceHash.Of("not stored");
        var docs = await store.Archive.GetDocumentsAsync([.. ds.Tahoe.Select(d => d.Hash), missing], Ct);
        Assert.Equal(ds.Tahoe.Select(d => d.Hash), docs.Select(d => d.Hash));
        Assert.All(docs, d => Assert.Equal(ds.Tahoe.Single(x => x.Hash == d.Hash).Document, d.Document));
        var attrs = await store.Archive.AttributesAmongAsync([.. ds.Tahoe.Select(d => d.Hash), missing], Ct);
        Assert.Equal(ds.Tahoe.Where(d => d.Itype == "attribute").Select(d => d.Hash).ToHashSet(), attrs);
    }

    [Fact]
    public async Task DanglingReferences_AreCounted()
    {
        var ds = Datasets.Named("D1_tiny");
        await using var store = await NewStoreAsync();
        var ev = ds.Events.First();
        await store.Archive.WriteAsync([ev], Ct);
        Assert.Equal(ev.Ref.Length, await store.Archive.CountDanglingReferencesAsync(Ct));
        await store.Archive.WriteAsync([.. ds.Everything], Ct);
        Assert.Equal(0, await store.Archive.CountDanglingReferencesAsync(Ct));
    }

    [Fact]
    public async Task DanglingReferences_CountEveryReference_AlsoOfAHashSeveralEventsShare()
    {
        // The events alone, in two transactions: hub attributes are missing for many events, in both writes.
        var ds = Datasets.Named("D3_medium");
        await using var store = await NewStoreAsync();
        var events = ds.Events.ToList();
        await store.Archive.WriteAsync(events.Take(events.Count / 2).ToList(), Ct);
        await store.Archive.WriteAsync(events.Skip(events.Count / 2).ToList(), Ct);
        var stored = events.Select(e => e.Hash).ToHashSet();
        var expected = events.Sum(e => e.Ref.Count(r => !stored.Contains(r)));
        Assert.True(expected > events.SelectMany(e => e.Ref).Distinct().Count(r => !stored.Contains(r)), "no missing hash is shared");
        Assert.Equal(expected, await store.Archive.CountDanglingReferencesAsync(Ct));
    }

    [Fact]
    public async Task Identity_FindsUsersAndOrgs_ByHashOrName()
    {
        var ds = Datasets.Named("D1_tiny");
        await using var store = await LoadedAsync(ds);
        var alice = ds.Users["alice"];
        var byHash = await store.Identity.FindUserAsync(alice.Value.ToUpperInvariant(), Ct);
        Assert.NotNull(byHash);
        Assert.Equal("alice@org1.example", byHash.Email);
        Assert.Equal(alice, (await store.Identity.FindUserAsync("alice@org1.example", Ct))!.Hash);
        Assert.Null(await store.Identity.FindUserAsync("nobody@example.org", Ct));
        var org1 = await store.Identity.FindOrgAsync("org1", Ct);
        Assert.NotNull(org1);
        Assert.Contains(alice, org1.Users);
        Assert.Contains(alice, org1.Admins);
        var users = await store.Identity.ListUsersAsync(Ct);
        Assert.Equal(users.Select(u => u.Email).Order(StringComparer.Ordinal), users.Select(u => u.Email));
        Assert.NotEmpty(await store.Identity.ListOrgsAsync(Ct));
        Assert.NotNull(await store.Identity.GetIdentityDocumentAsync(alice, Ct));
    }

    [Fact]
    public async Task Visibility_IsEmpty_ForAUserInNoOrg()
    {
        var ds = Datasets.Named("D1_tiny");
        await using var store = await LoadedAsync(ds);
        var vis = await store.Identity.VisibilityOfAsync(InstanceHash.Of("stranger"), Ct);
        Assert.True(vis.IsEmpty);
        var attr = ds.Events.First().Ref[0];
        Assert.Equal(0, await store.Archive.CountEventsAsync(attr, EventFilter.Everything, vis, Ct));
        Assert.Empty(await store.Archive.PageEventsAsync(attr, EventFilter.Everything, vis, 0, 10, Ct));
    }

    // ---------------------------------------------------------------- queries

    protected static QuerySubmission Count(string user = "u1", NotifySocket? notify = null) =>
        new("count", "{\"sub_type\": \"ipv4\", \"data\": \"1.1.1.1\"}", false, user, "qh", notify);

    private static QueryOutcome Ready(string json = "{\"data\":1}") => new(QueryStatus.Ready, json, InstanceHash.Of(json), null);

    [Fact]
    public async Task Enqueue_ThenGet_ReturnsAWaitingQuery()
    {
        await using var store = await NewStoreAsync();
        var id = await store.Queries.EnqueueAsync(Count(notify: new NotifySocket("localhost", 5000, "abc")), Ct);
        var q = await store.Queries.GetAsync(id, Ct);
        Assert.NotNull(q);
        Assert.Equal(QueryStatus.Wait, q.Status);
        Assert.Equal(new NotifySocket("localhost", 5000, "abc"), q.Notify);
        Assert.Null(await store.Queries.GetAsync(id + 1000, Ct));
    }

    [Fact]
    public async Task Claim_ReturnsNothing_WhenEveryQueryIsLeased()
    {
        await using var store = await NewStoreAsync();
        await store.Queries.EnqueueAsync(Count(), Ct);
        var first = await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct);
        Assert.NotNull(first);
        Assert.Equal(1, first.Attempt);
        Assert.Null(await store.Queries.ClaimNextAsync("w2", TimeSpan.FromSeconds(30), Ct));
    }

    [Fact]
    public async Task Claim_TakesOldestFirst()
    {
        await using var store = await NewStoreAsync();
        var a = await store.Queries.EnqueueAsync(Count("a"), Ct);
        var b = await store.Queries.EnqueueAsync(Count("b"), Ct);
        Assert.Equal(a, (await store.Queries.ClaimNextAsync("w", TimeSpan.FromSeconds(30), Ct))!.QueryId);
        Assert.Equal(b, (await store.Queries.ClaimNextAsync("w", TimeSpan.FromSeconds(30), Ct))!.QueryId);
    }

    [Fact]
    public async Task Complete_StoresReportAndStatus_OnlyWhileTheLeaseHolds()
    {
        await using var store = await NewStoreAsync();
        var id = await store.Queries.EnqueueAsync(Count(), Ct);
        var stale = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Time.Advance(TimeSpan.FromSeconds(31));
        var fresh = (await store.Queries.ClaimNextAsync("w2", TimeSpan.FromSeconds(30), Ct))!;
        Assert.Equal(id, fresh.QueryId);
        Assert.Equal(2, fresh.Attempt);
        Assert.False(await store.Queries.CompleteAsync(stale, Ready("{\"data\":0}"), Ct));
        Assert.False(await store.Queries.RenewAsync(stale, TimeSpan.FromSeconds(30), Ct));
        Assert.True(await store.Queries.CompleteAsync(fresh, Ready(), Ct));
        var q = (await store.Queries.GetAsync(id, Ct))!;
        Assert.Equal(QueryStatus.Ready, q.Status);
        Assert.Equal("{\"data\":1}", q.ReportJson);
        Assert.Equal(InstanceHash.Of("{\"data\":1}").Value, q.ReportHash);
        Assert.False(await store.Queries.CompleteAsync(fresh, Ready(), Ct));
    }

    [Fact]
    public async Task Renew_KeepsTheClaim_PastTheOriginalLease()
    {
        await using var store = await NewStoreAsync();
        await store.Queries.EnqueueAsync(Count(), Ct);
        var claim = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.True(await store.Queries.RenewAsync(claim, TimeSpan.FromSeconds(30), Ct));
        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.Null(await store.Queries.ClaimNextAsync("w2", TimeSpan.FromSeconds(30), Ct));
        Assert.True(await store.Queries.CompleteAsync(claim, Ready(), Ct));
    }

    [Fact]
    public async Task Release_ReturnsTheQueryToTheQueue_WithoutCountingTheAttempt()
    {
        await using var store = await NewStoreAsync();
        var id = await store.Queries.EnqueueAsync(Count(), Ct);
        var claim = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Assert.True(await store.Queries.ReleaseAsync(claim, Ct));
        Assert.Equal(QueryStatus.Wait, (await store.Queries.GetAsync(id, Ct))!.Status);
        var again = (await store.Queries.ClaimNextAsync("w2", TimeSpan.FromSeconds(30), Ct))!;
        Assert.Equal(1, again.Attempt);
    }

    [Fact]
    public async Task Release_ThenReclaimBySameWorker_GivesANewLease_SoTheOldClaimCannotComplete()
    {
        await using var store = await NewStoreAsync();
        var id = await store.Queries.EnqueueAsync(Count(), Ct);
        var first = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Assert.True(await store.Queries.ReleaseAsync(first, Ct));
        var second = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Assert.Equal(first.Attempt, second.Attempt);
        Assert.NotEqual(first.LeaseToken, second.LeaseToken);
        Assert.False(await store.Queries.CompleteAsync(first, Ready(), Ct));
        Assert.True(await store.Queries.CompleteAsync(second, Ready(), Ct));
        Assert.Equal(QueryStatus.Ready, (await store.Queries.GetAsync(id, Ct))!.Status);
    }

    [Fact]
    public async Task Requeue_RestartsAnEndedQuery_ButNotOneInProgress()
    {
        await using var store = await NewStoreAsync();
        var id = await store.Queries.EnqueueAsync(Count(), Ct);
        var claim = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Assert.False(await store.Queries.RequeueAsync(id, Ct));
        await store.Queries.CompleteAsync(claim, Ready(), Ct);
        Assert.True(await store.Queries.RequeueAsync(id, Ct));
        var q = (await store.Queries.GetAsync(id, Ct))!;
        Assert.Equal(QueryStatus.Wait, q.Status);
        Assert.Null(q.ReportJson);
    }

    [Fact]
    public async Task FindRecent_MatchesUserTypeAndHash_SinceTheGivenTime()
    {
        await using var store = await NewStoreAsync();
        var id = await store.Queries.EnqueueAsync(Count("alice"), Ct);
        var now = Time.NowSeconds();
        Assert.Equal(id, (await store.Queries.FindRecentAsync("alice", "count", "qh", now - 1, Ct))!.Id);
        Assert.Null(await store.Queries.FindRecentAsync("bob", "count", "qh", now - 1, Ct));
        Assert.Null(await store.Queries.FindRecentAsync("alice", "related", "qh", now - 1, Ct));
        Assert.Null(await store.Queries.FindRecentAsync("alice", "count", "qh", now + 1, Ct));
    }

    [Fact]
    public async Task SubmitOnce_EnqueuesOnlyWhenNoRecentQueryMatches()
    {
        await using var store = await NewStoreAsync();
        var now = Time.NowSeconds();
        var first = await store.Queries.SubmitOnceAsync(Count("alice"), now - 1, redo: false, Ct);
        Assert.Null(first.Existing);
        Assert.False(first.Requeued);
        Assert.Equal(QueryStatus.Wait, (await store.Queries.GetAsync(first.Id, Ct))!.Status);

        var again = await store.Queries.SubmitOnceAsync(Count("alice"), now - 1, redo: false, Ct);
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(first.Id, again.Existing!.Id);
        Assert.False(again.Requeued);

        // Another user, another type, or a window starting after the first submission: a new query each.
        var ids = new[]
        {
            (await store.Queries.SubmitOnceAsync(Count("bob"), now - 1, redo: false, Ct)).Id,
            (await store.Queries.SubmitOnceAsync(Count("alice") with { QType = "related" }, now - 1, redo: false, Ct)).Id,
            (await store.Queries.SubmitOnceAsync(Count("alice"), now + 1, redo: false, Ct)).Id,
        };
        Assert.Equal(4, ids.Append(first.Id).Distinct().Count());
        Assert.Equal(4, (await store.Queries.CountByStatusAsync(Ct))[QueryStatus.Wait]);
    }

    [Fact]
    public async Task SubmitOnce_WithRedo_RequeuesAnEndedQuery_ButNotOneInProgress()
    {
        await using var store = await NewStoreAsync();
        var since = Time.NowSeconds() - 1;
        var id = (await store.Queries.SubmitOnceAsync(Count("alice"), since, redo: false, Ct)).Id;
        var claim = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;

        var busy = await store.Queries.SubmitOnceAsync(Count("alice"), since, redo: true, Ct);
        Assert.Equal(id, busy.Id);
        Assert.Equal(QueryStatus.Processing, busy.Existing!.Status);
        Assert.False(busy.Requeued);

        await store.Queries.CompleteAsync(claim, Ready(), Ct);
        var redone = await store.Queries.SubmitOnceAsync(Count("alice"), since, redo: true, Ct);
        Assert.Equal(id, redone.Id);
        Assert.Equal(QueryStatus.Ready, redone.Existing!.Status);
        Assert.True(redone.Requeued);
        Assert.Equal(QueryStatus.Wait, (await store.Queries.GetAsync(id, Ct))!.Status);
    }

    [Fact]
    public async Task SubmitOnce_RefusesAQueryWithoutQhash()
    {
        await using var store = await NewStoreAsync();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => store.Queries.SubmitOnceAsync(Count("alice") with { QHash = null }, 0, redo: false, Ct));
        Assert.Contains("qhash", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubmitOnce_RacingInTwoProcesses_MakesOneQuery()
    {
        var (a, b) = await NewStoreTwiceAsync();
        await using (a)
        await using (b)
        {
            var since = Time.NowSeconds() - 1;
            var submissions = Enumerable.Range(0, 40)
                .Select(i => Task.Run(() => (i % 2 == 0 ? a : b).Queries.SubmitOnceAsync(Count("alice"), since, redo: false, Ct), Ct))
                .ToArray();
            var results = await Task.WhenAll(submissions);
            Assert.Single(results.Select(r => r.Id).Distinct());
            Assert.Single(results, r => r.Existing is null);
            Assert.Equal(1, (await a.Queries.CountByStatusAsync(Ct))[QueryStatus.Wait]);
        }
    }

    [Fact]
    public async Task ConcurrentClaims_ProcessEveryQueryExactlyOnce()
    {
        await using var store = await NewStoreAsync();
        const int n = 60;
        for (var i = 0; i < n; i++)
        {
            await store.Queries.EnqueueAsync(Count("u" + i), Ct);
        }

        var claimed = new System.Collections.Concurrent.ConcurrentBag<long>();
        var workers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            while (await store.Queries.ClaimNextAsync("w" + w, TimeSpan.FromMinutes(5), Ct) is { } c)
            {
                claimed.Add(c.QueryId);
                Assert.True(await store.Queries.CompleteAsync(c, Ready(), Ct));
            }
        }, Ct)).ToArray();
        await Task.WhenAll(workers);
        Assert.Equal(n, claimed.Count);
        Assert.Equal(n, claimed.Distinct().Count());
        var counts = await store.Queries.CountByStatusAsync(Ct);
        Assert.Equal(n, counts[QueryStatus.Ready]);
    }

    [Fact]
    public async Task ClaimMany_TakesUpToMaxOldestFirst_EachWithALeaseOfItsOwn()
    {
        await using var store = await NewStoreAsync();
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await store.Queries.EnqueueAsync(Count("u" + i), Ct));
        }

        var first = await store.Queries.ClaimManyAsync("w1", TimeSpan.FromSeconds(30), 3, Ct);
        Assert.Equal(ids.Take(3), first.Select(c => c.QueryId));
        Assert.All(first, c => Assert.Equal(1, c.Attempt));
        Assert.All(first, c => Assert.Equal(QueryStatus.Processing, c.Query.Status));
        Assert.Equal(3, first.Select(c => c.LeaseToken).Distinct().Count());
        var rest = await store.Queries.ClaimManyAsync("w2", TimeSpan.FromSeconds(30), 10, Ct);
        Assert.Equal(ids.Skip(3), rest.Select(c => c.QueryId));
        Assert.Empty(await store.Queries.ClaimManyAsync("w3", TimeSpan.FromSeconds(30), 10, Ct));
        Assert.True(await store.Queries.CompleteAsync(first[1], Ready(), Ct));
        Assert.Equal(QueryStatus.Ready, (await store.Queries.GetAsync(ids[1], Ct))!.Status);
    }

    [Fact]
    public async Task ClaimMany_TakesExpiredLeasesAgain_CountingTheAttempt()
    {
        await using var store = await NewStoreAsync();
        await store.Queries.EnqueueAsync(Count("a"), Ct);
        await store.Queries.EnqueueAsync(Count("b"), Ct);
        var stale = await store.Queries.ClaimManyAsync("w1", TimeSpan.FromSeconds(30), 5, Ct);
        Assert.Equal(2, stale.Count);
        Assert.Empty(await store.Queries.ClaimManyAsync("w2", TimeSpan.FromSeconds(30), 5, Ct));
        Time.Advance(TimeSpan.FromSeconds(31));
        var fresh = await store.Queries.ClaimManyAsync("w2", TimeSpan.FromSeconds(30), 5, Ct);
        Assert.Equal(stale.Select(c => c.QueryId), fresh.Select(c => c.QueryId));
        Assert.All(fresh, c => Assert.Equal(2, c.Attempt));
        Assert.False(await store.Queries.CompleteAsync(stale[0], Ready(), Ct));
        Assert.True(await store.Queries.CompleteAsync(fresh[0], Ready(), Ct));
    }

    [Fact]
    public async Task CompleteMany_StoresEachOutcome_OnlyWhereItsOwnLeaseHolds()
    {
        await using var store = await NewStoreAsync();
        var a = await store.Queries.EnqueueAsync(Count("a"), Ct);
        var b = await store.Queries.EnqueueAsync(Count("b"), Ct);
        var c = await store.Queries.EnqueueAsync(Count("c"), Ct);
        var claims = await store.Queries.ClaimManyAsync("w1", TimeSpan.FromSeconds(30), 3, Ct);
        Assert.Equal([a, b, c], claims.Select(x => x.QueryId));

        // b's claim is lost: released and claimed again, so the first claim's token no longer holds.
        Assert.True(await store.Queries.ReleaseAsync(claims[1], Ct));
        var again = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Assert.Equal(b, again.QueryId);
        var failed = new QueryOutcome(QueryStatus.Failed, "{\"data\":\"bad\"}", InstanceHash.Of("{\"data\":\"bad\"}"), "bad");
        var done = await store.Queries.CompleteManyAsync(
            [new QueryCompletion(claims[0], Ready("{\"data\":10}")), new QueryCompletion(claims[1], Ready("{\"data\":11}")), new QueryCompletion(claims[2], failed)],
            Ct);
        Assert.Equal([true, false, true], done);
        var qa = (await store.Queries.GetAsync(a, Ct))!;
        Assert.Equal((QueryStatus.Ready, "{\"data\":10}", null), (qa.Status, qa.ReportJson, qa.Error));
        var qb = (await store.Queries.GetAsync(b, Ct))!;
        Assert.Equal((QueryStatus.Processing, null), (qb.Status, qb.ReportJson));
        var qc = (await store.Queries.GetAsync(c, Ct))!;
        Assert.Equal((QueryStatus.Failed, "{\"data\":\"bad\"}", "bad"), (qc.Status, qc.ReportJson, qc.Error));

        // Completed claims do not complete twice; the live claim of b still can.
        Assert.Equal([false, true], await store.Queries.CompleteManyAsync([new QueryCompletion(claims[0], Ready()), new QueryCompletion(again, Ready())], Ct));
        Assert.Empty(await store.Queries.CompleteManyAsync([], Ct));
    }

    [Fact]
    public async Task CompleteAndClaim_StoresEachOutcomeWhereItsLeaseHolds_ThenClaimsTheOldestWaiting()
    {
        await using var store = await NewStoreAsync();
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await store.Queries.EnqueueAsync(Count("u" + i), Ct));
        }

        var first = await store.Queries.ClaimManyAsync("w1", TimeSpan.FromSeconds(30), 2, Ct);
        Assert.Equal(ids.Take(2), first.Select(c => c.QueryId));

        // The second claim is lost (released and claimed again by another worker).
        Assert.True(await store.Queries.ReleaseAsync(first[1], Ct));
        var other = (await store.Queries.ClaimNextAsync("w2", TimeSpan.FromSeconds(30), Ct))!;
        Assert.Equal(ids[1], other.QueryId);
        var result = await store.Queries.CompleteAndClaimAsync(
            [new QueryCompletion(first[0], Ready("{\"data\":1}")), new QueryCompletion(first[1], Ready())], "w1", TimeSpan.FromSeconds(30), 2, Ct);
        Assert.Equal([true, false], result.Stored);
        Assert.Equal(ids.Skip(2).Take(2), result.Claims.Select(c => c.QueryId));
        Assert.All(result.Claims, c => Assert.Equal((1, QueryStatus.Processing), (c.Attempt, c.Query.Status)));
        Assert.Equal((QueryStatus.Ready, "{\"data\":1}"), ((await store.Queries.GetAsync(ids[0], Ct))!.Status, (await store.Queries.GetAsync(ids[0], Ct))!.ReportJson));
        Assert.Equal(QueryStatus.Processing, (await store.Queries.GetAsync(ids[1], Ct))!.Status);

        // No claim when none is asked for; claims alone when nothing is completed; nothing left to claim at the end.
        var none = await store.Queries.CompleteAndClaimAsync([new QueryCompletion(result.Claims[0], Ready())], "w1", TimeSpan.FromSeconds(30), 0, Ct);
        Assert.Equal([true], none.Stored);
        Assert.Empty(none.Claims);
        var alone = await store.Queries.CompleteAndClaimAsync([], "w1", TimeSpan.FromSeconds(30), 3, Ct);
        Assert.Empty(alone.Stored);
        Assert.Equal([ids[4]], alone.Claims.Select(c => c.QueryId));
        var last = await store.Queries.CompleteAndClaimAsync(
            [new QueryCompletion(result.Claims[1], Ready()), new QueryCompletion(alone.Claims[0], Ready()), new QueryCompletion(other, Ready())], "w1", TimeSpan.FromSeconds(30), 3, Ct);
        Assert.Equal([true, true, true], last.Stored);
        Assert.Empty(last.Claims);
        Assert.Equal(5, (await store.Queries.CountByStatusAsync(Ct))[QueryStatus.Ready]);
    }

    [Fact]
    public async Task ConcurrentClaimMany_ProcessEveryQueryExactlyOnce()
    {
        await using var store = await NewStoreAsync();
        const int n = 90;
        for (var i = 0; i < n; i++)
        {
            await store.Queries.EnqueueAsync(Count("u" + i), Ct);
        }

        var claimed = new System.Collections.Concurrent.ConcurrentBag<long>();
        var workers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            while (await store.Queries.ClaimManyAsync("w" + w, TimeSpan.FromMinutes(5), 4, Ct) is { Count: > 0 } batch)
            {
                foreach (var c in batch)
                {
                    claimed.Add(c.QueryId);
                }

                Assert.All(await store.Queries.CompleteManyAsync([.. batch.Select(c => new QueryCompletion(c, Ready()))], Ct), Assert.True);
            }
        }, Ct)).ToArray();
        await Task.WhenAll(workers);
        Assert.Equal(n, claimed.Count);
        Assert.Equal(n, claimed.Distinct().Count());
        Assert.Equal(n, (await store.Queries.CountByStatusAsync(Ct))[QueryStatus.Ready]);
    }

    [Fact]
    public async Task FindUserAccess_ReadsUserAndVisibilityTogether_AtAVersionThatGrowsWithEveryMembershipChange()
    {
        await using var store = await NewStoreAsync();
        var alice = TahoeUser.Create("alice@access.example", "pw", "Alice");
        var bob = TahoeUser.Create("bob@access.example", "pw", "Bob");
        var red = TahoeOrg.Create("red", [alice], [alice], "Red");
        var blue = TahoeOrg.Create("blue", [bob], [bob], "Blue");
        await WriteIdentitiesAsync(store, alice, bob, red, blue);

        var before = await store.Identity.FindUserAccessAsync(alice.Hash, Ct);
        Assert.Equal("alice@access.example", before.User!.Email);
        Assert.Equal(alice.Hash, before.User.Hash);
        Assert.Equal(red.Hash.Value, string.Join(",", before.Visibility.OrgIds));
        Assert.Equal((await store.Identity.VisibilityOfAsync(alice.Hash, Ct)).OrgIds.ToArray(), before.Visibility.OrgIds.ToArray());
        Assert.NotNull(before.IdentityVersion);
        var stranger = await store.Identity.FindUserAccessAsync(InstanceHash.Of("stranger"), Ct);
        Assert.Null(stranger.User);
        Assert.True(stranger.Visibility.IsEmpty);

        // A claim made before a change sees an older version than the change; one made after sees it or later.
        await store.Queries.EnqueueAsync(Count(alice.Hash.Value), Ct);
        await store.Queries.EnqueueAsync(Count(alice.Hash.Value), Ct);
        var early = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Assert.Equal(before.IdentityVersion, early.IdentityVersion);
        var blueWithAlice = TahoeOrg.Create("blue", [alice, bob], [bob], "Blue");
        Assert.Equal(blue.Hash, blueWithAlice.Hash);
        await WriteIdentitiesAsync(store, blueWithAlice);
        var after = await store.Identity.FindUserAccessAsync(alice.Hash, Ct);
        Assert.True(after.IdentityVersion > before.IdentityVersion, $"{after.IdentityVersion} > {before.IdentityVersion}");
        Assert.Equal(string.Join(",", new[] { red.Hash.Value, blue.Hash.Value }.Order(StringComparer.Ordinal)), string.Join(",", after.Visibility.OrgIds));
        var late = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        Assert.True(late.IdentityVersion >= after.IdentityVersion, $"{late.IdentityVersion} >= {after.IdentityVersion}");

        // Removing a member and adding a user change the version too.
        var previous = after.IdentityVersion;
        await WriteIdentitiesAsync(store, TahoeOrg.Create("red", [bob], [bob], "Red"));
        var removed = await store.Identity.FindUserAccessAsync(alice.Hash, Ct);
        Assert.True(removed.IdentityVersion > previous);
        Assert.Equal(blue.Hash.Value, string.Join(",", removed.Visibility.OrgIds));
        previous = removed.IdentityVersion;
        await WriteIdentitiesAsync(store, TahoeUser.Create("carol@access.example", "pw", "Carol"));
        Assert.True((await store.Identity.FindUserAccessAsync(alice.Hash, Ct)).IdentityVersion > previous);
    }

    private static async Task WriteIdentitiesAsync(ICybexpStore store, params TahoeInstance[] identities)
    {
        var docs = new List<ArchiveDocument>();
        foreach (var identity in identities)
        {
            var parts = identity switch
            {
                TahoeUser u => [.. u.Descendants, u],
                TahoeOrg o => [.. o.Descendants, o],
                _ => new List<TahoeInstance> { identity },
            };
            foreach (var part in parts)
            {
                Assert.True(ArchiveDocument.TryCreate(part.Document, out var doc, out var error), error);
                docs.Add(doc!);
            }
        }

        await store.Archive.WriteAsync(docs, Ct);
    }

    [Fact]
    public async Task WaitForWork_ReturnsAtOnce_WhenWorkWasSignalledSinceTheCountWasRead()
    {
        // The store's clock does not move here: only a signal can end the wait.
        await using var store = await NewStoreAsync();
        var seen = store.Queries.WorkSignals;
        await store.Queries.EnqueueAsync(Count(), Ct);
        Assert.NotEqual(seen, store.Queries.WorkSignals);
        await store.Queries.WaitForWorkAsync(seen, TimeSpan.FromHours(1), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task WaitForEnd_ReturnsAsSoonAsTheQueryEnds()
    {
        await using var store = await NewStoreAsync();
        var id = await store.Queries.EnqueueAsync(Count(), Ct);
        var claim = (await store.Queries.ClaimNextAsync("w1", TimeSpan.FromSeconds(30), Ct))!;
        var waiting = store.Queries.WaitForEndAsync(id, TimeSpan.FromSeconds(30), Ct);
        await store.Queries.CompleteAsync(claim, Ready(), Ct);
        var ended = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(QueryStatus.Ready, ended!.Status);
    }

    [Fact]
    public async Task Heartbeats_CountLiveWorkers_UntilTheyAgeOrRetire()
    {
        await using var store = await NewStoreAsync();
        Assert.Equal(0, await store.Queries.CountLiveWorkersAsync(Time.NowSeconds() - 15, Ct));
        await store.Queries.HeartbeatAsync("w1", Ct);
        await store.Queries.HeartbeatAsync("w2", Ct);
        await store.Queries.HeartbeatAsync("w1", Ct);
        Assert.Equal(2, await store.Queries.CountLiveWorkersAsync(Time.NowSeconds() - 15, Ct));
        await store.Queries.RetireWorkerAsync("w2", Ct);
        Assert.Equal(1, await store.Queries.CountLiveWorkersAsync(Time.NowSeconds() - 15, Ct));
        Time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(0, await store.Queries.CountLiveWorkersAsync(Time.NowSeconds() - 15, Ct));
    }

    [Fact]
    public async Task Ping_AnswersTrue_ForAnOpenStore()
    {
        await using var store = await NewStoreAsync();
        Assert.True(await store.PingAsync(Ct));
        Assert.False(string.IsNullOrEmpty(store.Description));
    }
}
