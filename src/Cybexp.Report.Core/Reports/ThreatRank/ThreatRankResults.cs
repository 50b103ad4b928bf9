namespace Cybexp.Report.Core.Reports.ThreatRank;

/// <summary>The outcome of scoring one event: a score, or the reason the report fails.</summary>
public sealed record ThreatRankResult
{
    /// <summary>The failure reason when the target is not an event of the user's graph.</summary>
    public const string EventNotFound = "event not found";

    private ThreatRankResult(bool isSuccess, double score, string? failureReason)
    {
        IsSuccess = isSuccess;
        Score = score;
        FailureReason = failureReason;
    }

    /// <summary>True when <see cref="Score"/> holds the ThreatRank.</summary>
    public bool IsSuccess { get; }

    /// <summary>TR(p): −1 for a malicious target, otherwise ≤ 0 (0 when no path reaches it). 0 on failure.</summary>
    public double Score { get; }

    /// <summary>Why the report fails, such as <see cref="EventNotFound"/>; null on success.</summary>
    public string? FailureReason { get; }

    /// <summary>A successful score.</summary>
    public static ThreatRankResult Success(double score) => new(true, score, null);

    /// <summary>A failure with a message for the user.</summary>
    public static ThreatRankResult Failure(string reason) => new(false, 0, reason);
}

/// <summary>One event of a ranking: its hash and ThreatRank.</summary>
/// <param name="Hash">The event's lowercase hex hash.</param>
/// <param name="Score">Its ThreatRank (negative: more negative is more suspicious).</param>
public readonly record struct RankedEvent(string Hash, double Score);

/// <summary>Whether a path node is an event or an attribute.</summary>
public enum ThreatRankNodeKind
{
    /// <summary>An event document.</summary>
    Event,

    /// <summary>An attribute document.</summary>
    Attribute,
}

/// <summary>One node of an explained path.</summary>
/// <param name="Hash">The node's lowercase hex hash.</param>
/// <param name="Kind">Event or attribute.</param>
public readonly record struct ThreatRankPathNode(string Hash, ThreatRankNodeKind Kind);

/// <summary>A path from a malicious event to the target and what it adds to the score.</summary>
/// <param name="Nodes">The nodes from the malicious source (first) to the target (last).</param>
/// <param name="Contribution">The product of the node weights; the score is minus the sum over all paths.</param>
/// <param name="Share">Contribution divided by the sum of all paths' contributions (0..1).</param>
public sealed record ThreatRankPath(IReadOnlyList<ThreatRankPathNode> Nodes, double Contribution, double Share);

/// <summary>The score of an event and the paths contributing most to it.</summary>
/// <param name="Result">The score, or the failure (then <paramref name="Paths"/> is empty).</param>
/// <param name="Paths">The heaviest paths, heaviest first; equal contributions keep a deterministic order
/// (the graph's index order as the search meets them), not sorted by hash.</param>
/// <param name="IsComplete">
/// True when <paramref name="Paths"/> are proven to be the heaviest ones. False only when the
/// search hit its expansion budget first; the paths listed are then real paths of the graph,
/// heaviest among those found, but a heavier one may have been missed.
/// </param>
public sealed record ThreatRankExplanation(ThreatRankResult Result, IReadOnlyList<ThreatRankPath> Paths, bool IsComplete);
