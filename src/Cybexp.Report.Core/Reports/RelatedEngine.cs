using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Reports;

/// <summary>
/// <c>related</c> with the original's observable semantics: level 1 is the requested page (10 events, first-stored
/// order) of visible events referencing the attribute and matching the filters, plus everything they reference; each
/// further level adds the sessions holding the events found so far and up to 10 visible events of each session
/// (earliest first) with their references. Only visible events are ever reached.
/// </summary>
public sealed class RelatedEngine(IArchiveStore archive)
{
    /// <summary>First-hop events per page, as the original's <c>limitskip</c>.</summary>
    public const int PageSize = 10;

    /// <summary>Events taken from each session, as the original.</summary>
    public const int SessionEvents = 10;

    /// <summary>Computes the related report.</summary>
    public async Task<ReportResult> RunAsync(ReportQuery query, EventFilter filter, Visibility visibility, CancellationToken cancellationToken)
    {
        var attribute = AttributeHash.Of(query.SubType!, query.Data ?? TahoeValue.Null);
        var skip = (long)(query.Page - 1) * PageSize;
        if (skip > int.MaxValue)
        {
            return Empty(query);
        }

        // One extra event tells whether a further page exists.
        var firstHop = await archive.PageEventsAsync(attribute, filter, visibility, (int)skip, PageSize + 1, cancellationToken).ConfigureAwait(false);
        int? next = firstHop.Count > PageSize ? query.Page + 1 : null;
        firstHop = [.. firstHop.Take(PageSize)];
        if (firstHop.Count == 0)
        {
            return Empty(query);
        }

        var related = new HashSet<InstanceHash>();
        var docs = new Dictionary<InstanceHash, ArchiveDocument>();
        var sessionsSeen = new HashSet<InstanceHash>();
        var frontier = await AddEventsAsync(firstHop, related, docs, cancellationToken).ConfigureAwait(false);
        for (var level = 2; level <= query.Level && frontier.Count > 0; level++)
        {
            var nextFrontier = new List<InstanceHash>();
            foreach (var ev in frontier)
            {
                foreach (var session in await archive.SessionsOfEventAsync(ev, cancellationToken).ConfigureAwait(false))
                {
                    related.Add(session);
                    if (!sessionsSeen.Add(session))
                    {
                        continue;
                    }

                    var events = await archive.EventsOfSessionAsync(session, visibility, SessionEvents, cancellationToken).ConfigureAwait(false);
                    nextFrontier.AddRange(events.Where(e => !docs.ContainsKey(e)));
                }
            }

            frontier = await AddEventsAsync(nextFrontier.Distinct().ToList(), related, docs, cancellationToken).ConfigureAwait(false);
        }

        var all = await archive.GetDocumentsAsync(related, cancellationToken).ConfigureAwait(false);
        var data = query switch
        {
            { SummaryGraph: true } => SummaryGraph(attribute, all),
            { Summary: true } => Summary(all),
            _ => TahoeValue.List(await FullDocumentsAsync(all.Where(d => query.ReturnType == "all" || d.Itype == query.ReturnType), visibility, cancellationToken).ConfigureAwait(false)),
        };
        return new ReportResult(data, query.Page, next);
    }

    /// <summary>
    /// The documents as stored, except that a session's <c>_ref</c> lists only the events the user may see: the
    /// hashes of other orgs' events would tell the user they exist. (A session's hash does not cover <c>_ref</c>.)
    /// </summary>
    private async Task<IEnumerable<TahoeValue>> FullDocumentsAsync(IEnumerable<ArchiveDocument> docs, Visibility visibility, CancellationToken ct)
    {
        var result = new List<TahoeValue>();
        foreach (var d in docs)
        {
            if (d.Itype != "session")
            {
                result.Add(d.Document);
                continue;
            }

            var hidden = (await archive.GetDocumentsAsync(d.Ref, ct).ConfigureAwait(false))
                .Where(r => r.Itype == "event" && !visibility.OrgIds.Contains(r.OrgId ?? string.Empty))
                .Select(r => r.Hash)
                .ToHashSet();
            result.Add(hidden.Count == 0
                ? d.Document
                : d.Document.With("_ref", TahoeValue.List(d.Ref.Where(r => !hidden.Contains(r)).Select(r => (TahoeValue)TahoeValue.String(r.Value)))));
        }

        return result;
    }

    private static ReportResult Empty(ReportQuery query) =>
        new(query.Summary || query.SummaryGraph ? TahoeDict.Empty : TahoeValue.List(), query.Page, null);

    private async Task<List<InstanceHash>> AddEventsAsync(IReadOnlyList<InstanceHash> events, HashSet<InstanceHash> related, Dictionary<InstanceHash, ArchiveDocument> docs, CancellationToken ct)
    {
        var fresh = events.Where(e => !docs.ContainsKey(e)).ToList();
        foreach (var doc in await archive.GetDocumentsAsync(fresh, ct).ConfigureAwait(false))
        {
            docs[doc.Hash] = doc;
            related.Add(doc.Hash);
            related.UnionWith(doc.Ref);
        }

        return fresh;
    }

    private static TahoeValue Summary(IReadOnlyList<ArchiveDocument> docs)
    {
        var groups = new List<KeyValuePair<string, List<TahoeValue>>>();
        foreach (var d in docs.Where(d => d.Itype == "attribute"))
        {
            var group = groups.FirstOrDefault(g => g.Key == d.SubType);
            if (group.Value is null)
            {
                group = new(d.SubType, []);
                groups.Add(group);
            }

            group.Value.Add(d.Document["data"] ?? TahoeValue.Null);
        }

        return TahoeDict.From(groups.Select(g => new KeyValuePair<string, TahoeValue>(g.Key, TahoeValue.List(g.Value))));
    }

    /// <summary>
    /// For each reachable attribute, its data and the labels (<c>sub_type=itype</c>) of a shortest path from it back to
    /// the queried attribute, over the undirected graph of the related documents (objects and events linked to their
    /// <c>_cref</c>, sessions to their <c>_ref</c>). Breadth-first in first-stored order, so the chosen path is stable.
    /// Nothing related gives <c>{}</c> (the original failed).
    /// </summary>
    private static TahoeValue SummaryGraph(InstanceHash source, IReadOnlyList<ArchiveDocument> docs)
    {
        var byHash = docs.ToDictionary(d => d.Hash);
        if (!byHash.ContainsKey(source))
        {
            return TahoeDict.Empty;
        }

        var adjacency = new Dictionary<InstanceHash, List<InstanceHash>>();
        void Link(InstanceHash a, InstanceHash b)
        {
            if (!adjacency.TryGetValue(a, out var la))
            {
                adjacency[a] = la = [];
            }

            if (!adjacency.TryGetValue(b, out var lb))
            {
                adjacency[b] = lb = [];
            }

            la.Add(b);
            lb.Add(a);
        }

        foreach (var d in docs)
        {
            var edges = d.Itype switch
            {
                "object" or "event" => d.Cref,
                "session" => d.Ref,
                _ => [],
            };
            foreach (var child in edges)
            {
                Link(d.Hash, child);
            }
        }

        var parent = new Dictionary<InstanceHash, InstanceHash?> { [source] = null };
        var order = new List<InstanceHash> { source };
        for (var i = 0; i < order.Count; i++)
        {
            if (!adjacency.TryGetValue(order[i], out var neighbours))
            {
                continue;
            }

            foreach (var n in neighbours)
            {
                if (parent.TryAdd(n, order[i]))
                {
                    order.Add(n);
                }
            }
        }

        var groups = new List<KeyValuePair<string, List<TahoeValue>>>();
        foreach (var node in order)
        {
            if (!byHash.TryGetValue(node, out var doc) || doc.Itype != "attribute")
            {
                continue;
            }

            var labels = new List<TahoeValue>();
            var complete = true;
            for (InstanceHash? at = node; at is { } h; at = parent[h])
            {
                if (!byHash.TryGetValue(h, out var step))
                {
                    complete = false; // a hop through a document outside the related set (the original skipped these)
                    break;
                }

                labels.Add(TahoeValue.String($"{step.SubType}={step.Itype}"));
            }

            if (!complete)
            {
                continue;
            }

            var group = groups.FirstOrDefault(g => g.Key == doc.SubType);
            if (group.Value is null)
            {
                group = new(doc.SubType, []);
                groups.Add(group);
            }

            group.Value.Add(TahoeValue.List(doc.Document["data"] ?? TahoeValue.Null, TahoeValue.List(labels)));
        }

        return TahoeDict.From(groups.Select(g => new KeyValuePair<string, TahoeValue>(g.Key, TahoeValue.List(g.Value))));
    }
}
