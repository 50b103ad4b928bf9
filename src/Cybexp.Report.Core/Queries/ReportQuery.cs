using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Queries;

/// <summary>The report types.</summary>
public static class QueryTypes
{
    /// <summary>How often an attribute was seen.</summary>
    public const string Count = "count";
    /// <summary>What is connected to an attribute.</summary>
    public const string Related = "related";
    /// <summary>How malicious an event is.</summary>
    public const string ThreatRank = "threatrank";

    /// <summary>All report types, in the order error messages list them.</summary>
    public static readonly IReadOnlyList<string> All = [Count, Related, ThreatRank];
}

/// <summary>
/// A validated report query (TDQL qdata) with every default applied, as the original's <c>get_report</c> pops them:
/// category/context/return_type <c>all</c>, level 1, page 1, summary true, summary_graph false.
/// </summary>
public sealed record ReportQuery
{
    /// <summary>count, related or threatrank.</summary>
    public required string QType { get; init; }

    /// <summary>Attribute sub_type (<c>ip</c> already rewritten to <c>ipv4</c>), or null for threatrank.</summary>
    public string? SubType { get; init; }

    /// <summary>Attribute data, or null when absent.</summary>
    public TahoeValue? Data { get; init; }

    /// <summary>Raw <c>from</c> (date text or epoch seconds as text).</summary>
    public string? From { get; init; }

    /// <summary>Raw <c>to</c>.</summary>
    public string? To { get; init; }

    /// <summary>Raw <c>last</c> (e.g. <c>5 d</c>).</summary>
    public string? Last { get; init; }

    /// <summary>IANA time zone for date texts, or null for UTC.</summary>
    public string? TzName { get; init; }

    /// <summary>Event category filter; null means all.</summary>
    public string? Category { get; init; }

    /// <summary>Reference context filter.</summary>
    public EventContext Context { get; init; } = EventContext.All;

    /// <summary>all, attribute, event, object or session (related with summary false).</summary>
    public string ReturnType { get; init; } = "all";

    /// <summary>related: hops, 1..3.</summary>
    public int Level { get; init; } = 1;

    /// <summary>related: page number, from 1.</summary>
    public int Page { get; init; } = 1;

    /// <summary>related: return <c>{sub_type:[data…]}</c> over attributes.</summary>
    public bool Summary { get; init; } = true;

    /// <summary>related: return each attribute with its shortest path back to the queried one.</summary>
    public bool SummaryGraph { get; init; }

    /// <summary>threatrank: the target event, or null for a ranking over a time range.</summary>
    public InstanceHash? Hash { get; init; }

    /// <summary>count: time-series bucket width in seconds (extension), or null.</summary>
    public int? IntervalSeconds { get; init; }

    /// <summary>count: the interval as given (1h, 6h, 1d, 7d, 30d).</summary>
    public string? Interval { get; init; }

    /// <summary>threatrank: decay per day.</summary>
    public double Decay { get; init; } = 0.998;

    /// <summary>threatrank: hop limit (event–attribute–event counts as one hop).</summary>
    public int MaxHops { get; init; } = 3;

    /// <summary>threatrank: add the top contributing paths.</summary>
    public bool Explain { get; init; }

    /// <summary>threatrank ranking: how many events to return.</summary>
    public int Top { get; init; } = 10;

    /// <summary>True when the query names a time range (from, to or last).</summary>
    public bool HasTimeRange => From is not null || To is not null || Last is not null;
}
