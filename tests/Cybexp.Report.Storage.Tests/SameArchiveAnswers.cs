using Cybexp.Report.Core.Storage;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// A migrated store against a fresh one that ingested the same documents: every read method of the archive, for every
/// user of the dataset and for all orgs together, gives the same answer.
/// </summary>
internal static class SameArchiveAnswers
{
    public static async Task AssertAsync(Dataset ds, ICybexpStore fresh, ICybexpStore migrated, CancellationToken ct, int extraEvents = 0)
    {
        // extraEvents: event rows in migrated's instances table that are not in ds (SqliteInstanceIndexTests).
        var counts = new SortedDictionary<string, long>(new Dictionary<string, long>(await fresh.Archive.CountByItypeAsync(ct)), StringComparer.Ordinal);
        counts["event"] += extraEvents;
        Assert.Equal(counts, await migrated.Archive.CountByItypeAsync(ct));
        Assert.Equal(await fresh.Archive.CountDanglingReferencesAsync(ct), await migrated.Archive.CountDanglingReferencesAsync(ct));
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
                    Assert.Equal(await fresh.Archive.CountEventsAsync(r, f, vis, ct), await migrated.Archive.CountEventsAsync(r, f, vis, ct));
                    Assert.Equal(await fresh.Archive.EventTimeSpanAsync(r, f, vis, ct), await migrated.Archive.EventTimeSpanAsync(r, f, vis, ct));
                }

                Assert.Equal(
                    await fresh.Archive.CountEventsByBucketAsync(r, EventFilter.Everything, vis, times[0], 3600, ct),
                    await migrated.Archive.CountEventsByBucketAsync(r, EventFilter.Everything, vis, times[0], 3600, ct));
                Assert.Equal(
                    await fresh.Archive.PageEventsAsync(r, EventFilter.Everything, vis, 0, 1000, ct),
                    await migrated.Archive.PageEventsAsync(r, EventFilter.Everything, vis, 0, 1000, ct));
                Assert.Equal(
                    await fresh.Archive.PageEventsAsync(r, filters[2], vis, 1, 2, ct),
                    await migrated.Archive.PageEventsAsync(r, filters[2], vis, 1, 2, ct));
            }

            Assert.Equal(await EdgesAsync(fresh, vis, ct), await EdgesAsync(migrated, vis, ct));
            foreach (var session in ds.Tahoe.Where(d => d.Itype == "session"))
            {
                Assert.Equal(
                    await fresh.Archive.EventsOfSessionAsync(session.Hash, vis, 1000, ct),
                    await migrated.Archive.EventsOfSessionAsync(session.Hash, vis, 1000, ct));
            }
        }

        foreach (var e in ds.Events)
        {
            Assert.Equal(await fresh.Archive.SessionsOfEventAsync(e.Hash, ct), await migrated.Archive.SessionsOfEventAsync(e.Hash, ct));
        }

        var all = ds.Everything.Select(d => d.Hash).ToList();
        Assert.Equal(
            (await fresh.Archive.GetDocumentsAsync(all, ct)).Select(StoredDocumentText.Of),
            (await migrated.Archive.GetDocumentsAsync(all, ct)).Select(StoredDocumentText.Of));
        Assert.Equal(
            (await fresh.Archive.AttributesAmongAsync(all, ct)).Order(),
            (await migrated.Archive.AttributesAmongAsync(all, ct)).Order());
    }

    private static async Task<List<string>> EdgesAsync(ICybexpStore store, Visibility vis, CancellationToken ct)
    {
        var result = new List<string>();
        await foreach (var e in store.Archive.VisibleEventsAsync(vis, ct))
        {
            result.Add($"{e.Hash} {e.Timestamp} {e.Category} {string.Join(',', e.Ref.Order())}");
        }

        return result;
    }
}
