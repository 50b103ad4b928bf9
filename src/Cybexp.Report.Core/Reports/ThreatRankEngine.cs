using System.Collections.Concurrent;
using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Reports.ThreatRank;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Reports;

/// <summary>
/// Keeps one in-memory ThreatRank graph per set of visible orgs, rebuilt from the archive when the archive's version
/// changes, and the prepared calculators over it. A graph holds only the events that set of orgs may see, so nothing
/// outside it can influence a score. A calculator depends on "now" only through each event's age in whole days, so
/// it is reused, exactly, until the first event's age changes.
/// </summary>
public sealed class ThreatRankGraphCache(IArchiveStore archive, int capacity = 16)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<Entry>>> _graphs = new(StringComparer.Ordinal);

    /// <summary>The graphs held now (built, possibly older than the archive), in order of their org lists.</summary>
    public IReadOnlyList<HeldGraph> Held =>
        [.. _graphs.Where(g => g.Value.IsValueCreated && g.Value.Value.IsCompletedSuccessfully)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Value.Value.Result)
            .Select(e => new HeldGraph(e.Visibility, e.Version, e.Graph.EventCount))];

    /// <summary>
    /// Builds the graph of each of <paramref name="visibilities"/> and prepares its calculator (default decay) as of
    /// <paramref name="now"/>, so that the first query of those users does not pay for it. Graphs already current
    /// are left as they are.
    /// </summary>
    public async Task WarmAsync(IEnumerable<Visibility> visibilities, double now, CancellationToken cancellationToken)
    {
        foreach (var visibility in visibilities)
        {
            using var lease = await CalculatorAsync(visibility, now, ThreatRankCalculator.DefaultDecay, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Brings every held graph up to date with the archive and prepares its calculator as of <paramref name="now"/>
    /// (graphs whose archive version is current cost one version look-up). Returns how many graphs were checked.
    /// </summary>
    public async Task<int> RefreshAsync(double now, CancellationToken cancellationToken)
    {
        var held = Held;
        await WarmAsync(held.Select(h => h.Visibility), now, cancellationToken).ConfigureAwait(false);
        return held.Count;
    }

    /// <summary>The graph of the events <paramref name="visibility"/> may see, current with the archive.</summary>
    public async Task<ThreatRankGraph> GetAsync(Visibility visibility, CancellationToken cancellationToken) =>
        (await EntryAsync(visibility, cancellationToken).ConfigureAwait(false)).Graph;

    /// <summary>
    /// A calculator for <paramref name="visibility"/> as of <paramref name="now"/>, held exclusively until the lease is
    /// disposed (calculators keep intermediate sums and are not thread-safe).
    /// </summary>
    public async Task<CalculatorLease> CalculatorAsync(Visibility visibility, double now, double decay, CancellationToken cancellationToken)
    {
        var entry = await EntryAsync(visibility, cancellationToken).ConfigureAwait(false);
        await entry.Lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!entry.Calculators.TryGetValue(decay, out var prepared) || now < prepared.From || now >= prepared.Until)
            {
                prepared = (new ThreatRankCalculator(entry.Graph, now, decay), now, NextAgeChange(entry.Graph, now));
                if (entry.Calculators.Count >= 4)
                {
                    entry.Calculators.Clear();
                }

                entry.Calculators[decay] = prepared;
            }

            return new CalculatorLease(prepared.Calculator, entry.Lock);
        }
        catch
        {
            entry.Lock.Release();
            throw;
        }
    }

    // The earliest time after now at which some event's age in whole days, max(0, floor((now - ts) / 86400)), changes.
    private static double NextAgeChange(ThreatRankGraph graph, double now)
    {
        var next = double.PositiveInfinity;
        for (var e = 0; e < graph.EventCount; e++)
        {
            var ts = graph.EventTimestamp(e);
            var days = Math.Max(0, Math.Floor((now - ts) / 86400));
            next = Math.Min(next, ts + ((days + 1) * 86400));
        }

        // A millisecond of margin against rounding in the subtraction above.
        return next - 0.001;
    }

    private async Task<Entry> EntryAsync(Visibility visibility, CancellationToken cancellationToken)
    {
        var key = string.Join(",", visibility.OrgIds);
        var version = await archive.VersionAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var lazy = _graphs.GetOrAdd(key, _ => new Lazy<Task<Entry>>(() => BuildAsync(visibility, version, CancellationToken.None)));
            var entry = await lazy.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (entry.Version >= version)
            {
                return entry;
            }

            _graphs.TryRemove(new KeyValuePair<string, Lazy<Task<Entry>>>(key, lazy));
            if (_graphs.Count >= capacity)
            {
                _graphs.Clear();
            }
        }
    }

    private async Task<Entry> BuildAsync(Visibility visibility, long version, CancellationToken ct)
    {
        var builder = new ThreatRankGraphBuilder();
        await foreach (var e in archive.VisibleEventsAsync(visibility, ct).ConfigureAwait(false))
        {
            builder.AddEvent(e.Hash.Value, e.Timestamp, e.Category == "malicious", e.Ref.Select(r => r.Value));
        }

        return new Entry(version, visibility, builder.Build());
    }

    private sealed record Entry(long Version, Visibility Visibility, ThreatRankGraph Graph)
    {
        public SemaphoreSlim Lock { get; } = new(1, 1);

        public Dictionary<double, (ThreatRankCalculator Calculator, double From, double Until)> Calculators { get; } = [];
    }
}

/// <summary>A graph a <see cref="ThreatRankGraphCache"/> holds: whose it is, the archive version it was built from, its size.</summary>
public sealed record HeldGraph(Visibility Visibility, long ArchiveVersion, int Events);

/// <summary>Exclusive use of a prepared calculator; dispose to let others use it.</summary>
public sealed class CalculatorLease(ThreatRankCalculator calculator, SemaphoreSlim gate) : IDisposable
{
    private int _released;

    /// <summary>The calculator.</summary>
    public ThreatRankCalculator Calculator { get; } = calculator;

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            gate.Release();
        }
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
        using var lease = await graphs.CalculatorAsync(visibility, now, query.Decay, cancellationToken).ConfigureAwait(false);
        var calculator = lease.Calculator;
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
