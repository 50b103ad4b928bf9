namespace Cybexp.Report.Core.Tests.ThreatRank;

/// <summary>One visible event as the reference sees it: straight from the documents.</summary>
internal sealed record ReferenceEvent(string Hash, double Timestamp, bool Malicious, IReadOnlyList<string> Attributes);

/// <summary>
/// Brute-force ThreatRank: enumerates every simple path of the definition in spec/threatrank.md
/// by depth-first search from each malicious event, multiplying node weights along the way.
/// Shares nothing with the production code.
/// </summary>
internal static class ReferenceThreatRank
{
    /// <summary>TR for every event (lowercase hash → score); malicious events get −1.</summary>
    public static Dictionary<string, double> ScoreAll(IReadOnlyList<ReferenceEvent> events, double now, double decay, int maxHops)
    {
        // Node ids: "e:" + hash for events, "a:" + hash for attributes.
        var adjacency = new Dictionary<string, List<string>>();
        var weight = new Dictionary<string, double>();
        foreach (var ev in events)
        {
            var id = "e:" + ev.Hash.ToLowerInvariant();
            var attributes = ev.Attributes.Select(a => "a:" + a.ToLowerInvariant()).Distinct().ToList();
            adjacency[id] = attributes;
            foreach (var a in attributes)
            {
                if (!adjacency.TryGetValue(a, out var list))
                {
                    adjacency[a] = list = [];
                }

                list.Add(id);
            }
        }

        foreach (var ev in events)
        {
            var id = "e:" + ev.Hash.ToLowerInvariant();
            var degree = adjacency[id].Count;
            var days = Math.Floor((now - ev.Timestamp) / 86400.0);
            if (days < 0)
            {
                days = 0;
            }

            weight[id] = degree == 0 ? 0 : Math.Pow(decay, days) / degree;
        }

        foreach (var (id, neighbours) in adjacency)
        {
            if (id.StartsWith("a:", StringComparison.Ordinal))
            {
                weight[id] = 1.0 / neighbours.Count;
            }
        }

        var sums = events.ToDictionary(e => "e:" + e.Hash.ToLowerInvariant(), _ => 0.0);
        var onPath = new HashSet<string>();
        void Walk(string node, double product, int edges)
        {
            if (edges > 0 && node.StartsWith("e:", StringComparison.Ordinal))
            {
                sums[node] += product;
            }

            if (edges == 2 * maxHops)
            {
                return;
            }

            foreach (var next in adjacency[node])
            {
                if (onPath.Add(next))
                {
                    Walk(next, product * weight[next], edges + 1);
                    onPath.Remove(next);
                }
            }
        }

        foreach (var ev in events.Where(e => e.Malicious))
        {
            var id = "e:" + ev.Hash.ToLowerInvariant();
            onPath.Add(id);
            Walk(id, weight[id], 0);
            onPath.Remove(id);
        }

        var malicious = events.Where(e => e.Malicious).Select(e => "e:" + e.Hash.ToLowerInvariant()).ToHashSet();
        return sums.ToDictionary(
            kv => kv.Key[2..],
            kv => malicious.Contains(kv.Key) ? -1.0 : -kv.Value);
    }

    /// <summary>All simple paths (source first) to <paramref name="target"/> with their products.</summary>
    public static List<(List<string> Nodes, double Contribution)> Paths(
        IReadOnlyList<ReferenceEvent> events, double now, double decay, int maxHops, string target)
    {
        var all = new List<(List<string>, double)>();
        var adjacency = new Dictionary<string, List<string>>();
        foreach (var ev in events)
        {
            var id = "e:" + ev.Hash;
            adjacency[id] = ev.Attributes.Distinct().Select(a => "a:" + a).ToList();
            foreach (var a in adjacency[id])
            {
                if (!adjacency.TryGetValue(a, out var list))
                {
                    adjacency[a] = list = [];
                }

                list.Add(id);
            }
        }

        double Weight(string node)
        {
            if (node.StartsWith("a:", StringComparison.Ordinal))
            {
                return 1.0 / adjacency[node].Count;
            }

            var ev = events.First(e => "e:" + e.Hash == node);
            var days = Math.Max(0, Math.Floor((now - ev.Timestamp) / 86400.0));
            return adjacency[node].Count == 0 ? 0 : Math.Pow(decay, days) / adjacency[node].Count;
        }

        var path = new List<string>();
        void Walk(string node, double product)
        {
            if (node == "e:" + target && path.Count > 1)
            {
                all.Add(([.. path], product));
                return;
            }

            if (path.Count == (2 * maxHops) + 1)
            {
                return;
            }

            foreach (var next in adjacency[node])
            {
                if (!path.Contains(next))
                {
                    path.Add(next);
                    Walk(next, product * Weight(next));
                    path.RemoveAt(path.Count - 1);
                }
            }
        }

        foreach (var ev in events.Where(e => e.Malicious && e.Hash != target))
        {
            path.Add("e:" + ev.Hash);
            Walk("e:" + ev.Hash, Weight("e:" + ev.Hash));
            path.RemoveAt(0);
        }

        return all;
    }
}
