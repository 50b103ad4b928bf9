using System.Collections.Concurrent;
using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Reports.ThreatRank;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Reports;

/// <summary>
/// Keeps one in-memory ThreatRank graph per set of visible orgs, rebuilt from the archive when the archive's version
/// changes. A graph holds only the events that set of orgs may see, so nothing outside it can influence a score.
/// </summary>
public sealed class ThreatRankGraphCache(IArchiveStore archive, int capacity = 16)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<(long Version, ThreatRankGraph Graph)>>> _graphs = new(StringComparer.Ordinal);

    /// <summary>The graph of the events <paramref name="visibility"/> may see, current with the archive.</summary>
    public async Task<ThreatRankGraph> GetAsync(Visibility visibility, CancellationToken cancellationToken)
    {
        var key = string.Join(",", visibility.OrgIds);
        var version = await archive.VersionAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var entry = _graphs.GetOrAdd(key, _ => new Lazy<Task<(long, ThreatRankGraph)>>(() => BuildAsync(visibility, version, CancellationToken.None)));
            var (builtAt, graph) = await entry.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (builtAt >= version)
            {
                return graph;
            }

            _graphs.TryRemove(new KeyValuePair<string, Lazy<Task<(long, ThreatRankGraph)>>>(key, entry));
            if (_graphs.Count >= capacity)
            {
                _graphs.Clear();
            }
        }
    }

    private async Task<(long, ThreatRankGraph)> BuildAsync(Visibility visibility, long version, CancellationToken ct)
    {
        var builder = new ThreatRankGraphBuilder();
        await foreach (var e in archive.VisibleEventsAsync(visibility, ct).ConfigureAwait(false))
        {
            builder.AddEvent(e.Hash.Value, e.Timestamp, e.Category == "malicious", e.Ref.Select(r => r.Value));
        }

        return (version, builder.Build());
    }
}

/// <summary>
/// <c>threatrank</c>: the score of one event (spec/threatrank.md), optionally with the paths contributing most, or a
/// ranking of the user's non-malicious events in a time range.
/// </summary>
public sealed class ThreatRankEngine(IArchiveStore archive, ThreatRankGraphCache graphs)
{
    /// <summary>Computes the threatrank report at time <paramref name="now"/>.</summary>
    public async Task<ReportResult> RunAsync(ReportQuery query, EventFilter filter, Visibility visibility, double now, CancellationToken cancellationToken)
    {
        var graph = await graphs.GetAsync(visibility, cancellationToken).ConfigureAwait(false);
        var calculator = new ThreatRankCalculator(graph, now, query.Decay);
        if (query.Hash is not { } target)
        {
            var ranked = calculator.RankAll(filter.Lower, filter.Upper, query.MaxHops, query.Top);
            return ReportResult.Single(TahoeValue.List(ranked.Select(r => (TahoeValue)TahoeValue.Dict(
                ("_hash", TahoeValue.String(r.Hash)),
                ("threatrank", TahoeValue.Float(r.Score))))));
        }

        if (!query.Explain)
        {
            var result = calculator.Score(target.Value, query.MaxHops);
            return result.IsSuccess
                ? ReportResult.Single(TahoeValue.Float(result.Score))
                : throw new ReportFailedException($"{result.FailureReason}: no event {target} among the events you may see");
        }

        var explanation = calculator.Explain(target.Value, query.MaxHops);
        if (!explanation.Result.IsSuccess)
        {
            throw new ReportFailedException($"{explanation.Result.FailureReason}: no event {target} among the events you may see");
        }

        // Path nodes are visible events and their attributes; their sub_types come from the archive.
        var nodeHashes = explanation.Paths.SelectMany(p => p.Nodes).Select(n => InstanceHash.Parse(n.Hash)).Distinct().ToList();
        var subTypes = (await archive.GetDocumentsAsync(nodeHashes, cancellationToken).ConfigureAwait(false)).ToDictionary(d => d.Hash.Value, d => d.SubType, StringComparer.Ordinal);
        var paths = explanation.Paths.Select(p => (TahoeValue)TahoeValue.Dict(
            ("nodes", TahoeValue.List(p.Nodes.Select(n => (TahoeValue)TahoeValue.Dict(
                ("_hash", TahoeValue.String(n.Hash)),
                ("itype", TahoeValue.String(n.Kind == ThreatRankNodeKind.Event ? "event" : "attribute")),
                ("sub_type", TahoeValue.String(subTypes.GetValueOrDefault(n.Hash, string.Empty))))))),
            ("contribution", TahoeValue.Float(-p.Contribution)),
            ("share", TahoeValue.Float(p.Share))));
        return ReportResult.Single(TahoeValue.Dict(
            ("threatrank", TahoeValue.Float(explanation.Result.Score)),
            ("paths", TahoeValue.List(paths)),
            ("complete", TahoeValue.Bool(explanation.IsComplete))));
    }
}
