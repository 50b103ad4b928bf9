using System.Runtime.InteropServices;

namespace Cybexp.Report.Core.Reports.ThreatRank;

/// <summary>
/// Collects the visible events of one user and freezes them into a <see cref="ThreatRankGraph"/>.
/// The caller filters: it adds only events the user may see, and passes for each event only
/// those hashes of its <c>_ref</c> that are attributes (objects are not nodes).
/// </summary>
/// <remarks>
/// An attribute listed twice by one event counts once. Adding the same event hash twice is a
/// caller error: <see cref="Build"/> throws <see cref="InvalidOperationException"/> naming it,
/// because a silent "last wins" would hide a broken store query.
/// Not thread-safe.
/// </remarks>
public sealed class ThreatRankGraphBuilder
{
    private readonly List<NodeHash> _eventHashes = [];
    private readonly List<double> _timestamps = [];
    private readonly List<bool> _malicious = [];
    private readonly List<int> _refStarts = [0];
    private readonly List<int> _refs = [];
    private readonly Dictionary<NodeHash, int> _attributeIds = [];
    private readonly List<NodeHash> _attributeHashes = [];

    /// <summary>Number of events added so far.</summary>
    public int EventCount => _timestamps.Count;

    /// <summary>
    /// Adds one visible event.
    /// </summary>
    /// <param name="hash">The event's <c>_hash</c>: 64 hex digits, either case.</param>
    /// <param name="timestamp">The event's timestamp in epoch seconds (UTC); must be finite.</param>
    /// <param name="malicious">True when the event's category is <c>malicious</c>.</param>
    /// <param name="attributeHashes">The attribute hashes among the event's <c>_ref</c>.</param>
    /// <returns>This builder.</returns>
    public ThreatRankGraphBuilder AddEvent(string hash, double timestamp, bool malicious, IEnumerable<string> attributeHashes)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentNullException.ThrowIfNull(attributeHashes);
        if (!NodeHash.TryParse(hash, out var eventHash))
        {
            throw new ArgumentException("An event hash must be 64 hex digits.", nameof(hash));
        }

        if (!double.IsFinite(timestamp))
        {
            throw new ArgumentOutOfRangeException(nameof(timestamp), timestamp, "An event timestamp must be a finite number of epoch seconds.");
        }

        var start = _refs.Count;
        foreach (var text in attributeHashes)
        {
            if (text is null || !NodeHash.TryParse(text, out var attributeHash))
            {
                _refs.RemoveRange(start, _refs.Count - start);
                throw new ArgumentException("An attribute hash must be 64 hex digits.", nameof(attributeHashes));
            }

            if (!_attributeIds.TryGetValue(attributeHash, out var id))
            {
                id = _attributeHashes.Count;
                _attributeIds.Add(attributeHash, id);
                _attributeHashes.Add(attributeHash);
            }

            _refs.Add(id);
        }

        // Distinct attributes per event: L(e) counts each once.
        var segment = CollectionsMarshal.AsSpan(_refs)[start..];
        segment.Sort();
        var kept = 0;
        for (var i = 0; i < segment.Length; i++)
        {
            if (i == 0 || segment[i] != segment[i - 1])
            {
                segment[kept++] = segment[i];
            }
        }

        _refs.RemoveRange(start + kept, segment.Length - kept);
        _eventHashes.Add(eventHash);
        _timestamps.Add(timestamp);
        _malicious.Add(malicious);
        _refStarts.Add(_refs.Count);
        return this;
    }

    /// <summary>Freezes the events added so far into a graph. The builder stays usable.</summary>
    /// <exception cref="InvalidOperationException">An event hash was added more than once.</exception>
    public ThreatRankGraph Build()
    {
        var n = _timestamps.Count;
        var eventKeys = _eventHashes.ToArray();
        var eventOrder = new int[n];
        for (var i = 0; i < n; i++)
        {
            eventOrder[i] = i;
        }

        Array.Sort(eventKeys, eventOrder);
        for (var i = 1; i < n; i++)
        {
            if (eventKeys[i] == eventKeys[i - 1])
            {
                throw new InvalidOperationException($"Event {eventKeys[i]} was added more than once.");
            }
        }

        var m = _attributeHashes.Count;
        var attributeKeys = _attributeHashes.ToArray();
        var attributeOrder = new int[m];
        for (var i = 0; i < m; i++)
        {
            attributeOrder[i] = i;
        }

        Array.Sort(attributeKeys, attributeOrder);
        var attributeRank = new int[m];
        for (var i = 0; i < m; i++)
        {
            attributeRank[attributeOrder[i]] = i;
        }

        var eventHashWords = new ulong[n * 4];
        var timestamps = new double[n];
        var malicious = new bool[n];
        var eventOffsets = new int[n + 1];
        var eventAttributes = new int[_refs.Count];
        var refs = CollectionsMarshal.AsSpan(_refs);
        var position = 0;
        for (var e = 0; e < n; e++)
        {
            var source = eventOrder[e];
            eventKeys[e].Write(eventHashWords, e);
            timestamps[e] = _timestamps[source];
            malicious[e] = _malicious[source];
            eventOffsets[e] = position;
            var from = _refStarts[source];
            var to = _refStarts[source + 1];
            for (var r = from; r < to; r++)
            {
                eventAttributes[position + r - from] = attributeRank[refs[r]];
            }

            eventAttributes.AsSpan(position, to - from).Sort();
            position += to - from;
        }

        eventOffsets[n] = position;

        var attributeHashWords = new ulong[m * 4];
        for (var a = 0; a < m; a++)
        {
            attributeKeys[a].Write(attributeHashWords, a);
        }

        var degrees = new int[m];
        var maliciousCounts = new int[m];
        for (var e = 0; e < n; e++)
        {
            for (var r = eventOffsets[e]; r < eventOffsets[e + 1]; r++)
            {
                var a = eventAttributes[r];
                degrees[a]++;
                if (malicious[e])
                {
                    maliciousCounts[a]++;
                }
            }
        }

        var attributeOffsets = new int[m + 1];
        for (var a = 0; a < m; a++)
        {
            attributeOffsets[a + 1] = attributeOffsets[a] + degrees[a];
        }

        // Malicious events first, each group in ascending event order (events are visited ascending).
        var nextMalicious = new int[m];
        var nextOther = degrees;
        for (var a = 0; a < m; a++)
        {
            nextMalicious[a] = attributeOffsets[a];
            nextOther[a] = attributeOffsets[a] + maliciousCounts[a];
        }

        var attributeEvents = new int[eventAttributes.Length];
        for (var e = 0; e < n; e++)
        {
            for (var r = eventOffsets[e]; r < eventOffsets[e + 1]; r++)
            {
                var a = eventAttributes[r];
                if (malicious[e])
                {
                    attributeEvents[nextMalicious[a]++] = e;
                }
                else
                {
                    attributeEvents[nextOther[a]++] = e;
                }
            }
        }

        return new ThreatRankGraph(
            eventHashWords,
            timestamps,
            malicious,
            eventOffsets,
            eventAttributes,
            attributeHashWords,
            attributeOffsets,
            attributeEvents,
            maliciousCounts);
    }
}
