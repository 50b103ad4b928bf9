namespace Cybexp.Report.Core.Reports.ThreatRank;

/// <summary>
/// The immutable bipartite event–attribute graph G_U of one user: only the events the user may
/// see and the attributes those events refer to (see <c>spec/threatrank.md</c>, step 1).
/// Build it with <see cref="ThreatRankGraphBuilder"/>.
/// </summary>
/// <remarks>
/// Nodes are dense <see cref="int"/> indices. Events are numbered in ascending hash order, and so
/// are attributes, so "ascending index" and "ascending hash" are the same order everywhere.
/// Adjacency is held twice in compressed sparse row form: an event's attributes ascending, and an
/// attribute's events with the malicious ones first (each group ascending). A graph of 1M events
/// with 5 attributes each takes roughly 32 bytes per node hash plus 8 bytes per edge.
/// </remarks>
public sealed class ThreatRankGraph
{
    internal readonly ulong[] EventHashWords;
    internal readonly double[] Timestamps;
    internal readonly bool[] Malicious;
    internal readonly int[] EventOffsets;
    internal readonly int[] EventAttributes;
    internal readonly ulong[] AttributeHashWords;
    internal readonly int[] AttributeOffsets;
    internal readonly int[] AttributeEvents;
    internal readonly int[] AttributeMaliciousCounts;

    internal ThreatRankGraph(
        ulong[] eventHashWords,
        double[] timestamps,
        bool[] malicious,
        int[] eventOffsets,
        int[] eventAttributes,
        ulong[] attributeHashWords,
        int[] attributeOffsets,
        int[] attributeEvents,
        int[] attributeMaliciousCounts)
    {
        EventHashWords = eventHashWords;
        Timestamps = timestamps;
        Malicious = malicious;
        EventOffsets = eventOffsets;
        EventAttributes = eventAttributes;
        AttributeHashWords = attributeHashWords;
        AttributeOffsets = attributeOffsets;
        AttributeEvents = attributeEvents;
        AttributeMaliciousCounts = attributeMaliciousCounts;
    }

    /// <summary>Number of visible events.</summary>
    public int EventCount => Timestamps.Length;

    /// <summary>Number of attributes referred to by visible events.</summary>
    public int AttributeCount => AttributeMaliciousCounts.Length;

    /// <summary>Number of event–attribute edges.</summary>
    public int EdgeCount => EventAttributes.Length;

    /// <summary>Approximate bytes held by the graph's arrays.</summary>
    public long ApproximateBytes =>
        (EventHashWords.LongLength * 8) + (Timestamps.LongLength * 8) + Malicious.LongLength
        + ((EventOffsets.LongLength + EventAttributes.LongLength) * 4)
        + (AttributeHashWords.LongLength * 8)
        + ((AttributeOffsets.LongLength + AttributeEvents.LongLength + AttributeMaliciousCounts.LongLength) * 4);

    /// <summary>The lowercase hex hash of event <paramref name="eventIndex"/>.</summary>
    public string EventHash(int eventIndex) => NodeHash.Read(EventHashWords, CheckEvent(eventIndex)).ToString();

    /// <summary>The timestamp (epoch seconds) of event <paramref name="eventIndex"/>.</summary>
    public double EventTimestamp(int eventIndex) => Timestamps[CheckEvent(eventIndex)];

    /// <summary>True when the event's category is <c>malicious</c>.</summary>
    public bool IsMalicious(int eventIndex) => Malicious[CheckEvent(eventIndex)];

    /// <summary>L(e): the number of distinct attributes the event refers to.</summary>
    public int EventDegree(int eventIndex) => EventOffsets[CheckEvent(eventIndex) + 1] - EventOffsets[eventIndex];

    /// <summary>The lowercase hex hash of attribute <paramref name="attributeIndex"/>.</summary>
    public string AttributeHash(int attributeIndex) =>
        NodeHash.Read(AttributeHashWords, CheckAttribute(attributeIndex)).ToString();

    /// <summary>L(a): the number of visible events referring to the attribute.</summary>
    public int AttributeDegree(int attributeIndex) =>
        AttributeOffsets[CheckAttribute(attributeIndex) + 1] - AttributeOffsets[attributeIndex];

    /// <summary>The attributes of an event, ascending.</summary>
    public ReadOnlySpan<int> AttributesOf(int eventIndex) => EventAttributesSpan(CheckEvent(eventIndex));

    /// <summary>The events referring to an attribute: malicious ones first, each group ascending.</summary>
    public ReadOnlySpan<int> EventsOf(int attributeIndex) => AttributeEventsSpan(CheckAttribute(attributeIndex));

    /// <summary>
    /// Finds an event by hash, ignoring case. Returns false for anything that is not the hash of
    /// a visible event (an attribute hash, another org's event, malformed text).
    /// </summary>
    public bool TryFindEvent(string hash, out int eventIndex)
    {
        ArgumentNullException.ThrowIfNull(hash);
        eventIndex = -1;
        if (!NodeHash.TryParse(hash, out var key))
        {
            return false;
        }

        int lo = 0, hi = EventCount - 1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) >> 1);
            var c = NodeHash.Read(EventHashWords, mid).CompareTo(key);
            if (c == 0)
            {
                eventIndex = mid;
                return true;
            }

            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return false;
    }

    internal ReadOnlySpan<int> EventAttributesSpan(int e) =>
        EventAttributes.AsSpan(EventOffsets[e], EventOffsets[e + 1] - EventOffsets[e]);

    internal ReadOnlySpan<int> AttributeEventsSpan(int a) =>
        AttributeEvents.AsSpan(AttributeOffsets[a], AttributeOffsets[a + 1] - AttributeOffsets[a]);

    internal ReadOnlySpan<int> MaliciousEventsSpan(int a) =>
        AttributeEvents.AsSpan(AttributeOffsets[a], AttributeMaliciousCounts[a]);

    internal int EventDegreeUnchecked(int e) => EventOffsets[e + 1] - EventOffsets[e];

    internal int AttributeDegreeUnchecked(int a) => AttributeOffsets[a + 1] - AttributeOffsets[a];

    /// <summary>True when event <paramref name="e"/> refers to attribute <paramref name="a"/>.</summary>
    internal bool HasEdge(int e, int a) => EventAttributesSpan(e).BinarySearch(a) >= 0;

    private int CheckEvent(int eventIndex)
    {
        if ((uint)eventIndex >= (uint)EventCount)
        {
            throw new ArgumentOutOfRangeException(nameof(eventIndex), eventIndex, "No such event index.");
        }

        return eventIndex;
    }

    private int CheckAttribute(int attributeIndex)
    {
        if ((uint)attributeIndex >= (uint)AttributeCount)
        {
            throw new ArgumentOutOfRangeException(nameof(attributeIndex), attributeIndex, "No such attribute index.");
        }

        return attributeIndex;
    }
}
