namespace Cybexp.Report.Core.Reports.ThreatRank;

public sealed partial class ThreatRankCalculator
{
    /// <summary>The largest number of paths an explanation returns.</summary>
    public const int MaxExplainTop = 100;

    /// <summary>
    /// The search behind <see cref="Explain"/> stops after this many steps (each step takes one
    /// partial path off the queue and adds at most two), which bounds its time and memory.
    /// </summary>
    public const int ExplainStepBudget = 250_000;

    // Upper bounds on the product of a backward walk from a node to a malicious event, counting
    // the node itself, with r edges left: events r = 0, 2, 4 (r = 0 is S), attributes r = 1, 3, 5.
    private double[]? _eventBound2;
    private double[]? _eventBound4;
    private double[]? _attributeBound1;
    private double[]? _attributeBound3;
    private double[]? _attributeBound5;

    /// <summary>
    /// The score of an event and the <paramref name="top"/> paths that contribute most to it.
    /// </summary>
    /// <remarks>
    /// Best-first search backwards from the target over partial paths, ordered by an upper bound
    /// of their best completion (the heaviest walk to a malicious event in the remaining hops).
    /// Children of a node are taken lazily in decreasing bound order, so a hub with many events
    /// costs one sort, not one queue entry per event. Complete paths leave the queue heaviest
    /// first, hence the first <paramref name="top"/> are the heaviest. The search stops after
    /// <see cref="ExplainStepBudget"/> steps; <see cref="ThreatRankExplanation.IsComplete"/> tells.
    /// A malicious target scores −1 by definition and lists no paths.
    /// </remarks>
    public ThreatRankExplanation Explain(string eventHash, int maxHops = DefaultMaxHops, int top = DefaultTop)
    {
        ArgumentNullException.ThrowIfNull(eventHash);
        CheckMaxHops(maxHops);
        if (top is < 1 or > MaxExplainTop)
        {
            throw new ArgumentOutOfRangeException(nameof(top), top, $"top must be between 1 and {MaxExplainTop}.");
        }

        if (!_g.TryFindEvent(eventHash, out var p))
        {
            return new ThreatRankExplanation(ThreatRankResult.Failure(ThreatRankResult.EventNotFound), [], true);
        }

        var score = ScoreIndex(p, maxHops);
        var result = ThreatRankResult.Success(score);
        if (_g.Malicious[p] || score == 0)
        {
            return new ThreatRankExplanation(result, [], true);
        }

        EnsureBounds();
        var search = new PathSearch(this, p, maxHops);
        var (found, complete) = search.Run(top);
        var total = -score;
        var paths = new List<ThreatRankPath>(found.Count);
        foreach (var (nodes, contribution) in found)
        {
            var described = new ThreatRankPathNode[nodes.Length];
            for (var i = 0; i < nodes.Length; i++)
            {
                // Paths alternate event, attribute, … and start and end at an event.
                described[i] = i % 2 == 0
                    ? new ThreatRankPathNode(_g.EventHash(nodes[i]), ThreatRankNodeKind.Event)
                    : new ThreatRankPathNode(_g.AttributeHash(nodes[i]), ThreatRankNodeKind.Attribute);
            }

            paths.Add(new ThreatRankPath(described, contribution, total > 0 ? Math.Min(1.0, contribution / total) : 0));
        }

        return new ThreatRankExplanation(result, paths, complete);
    }

    private void EnsureBounds()
    {
        if (_attributeBound5 is not null)
        {
            return;
        }

        var n = _g.EventCount;
        var m = _g.AttributeCount;
        var previousEvent = new double[n];
        for (var e = 0; e < n; e++)
        {
            previousEvent[e] = S(e);
        }

        var attributeBounds = new double[3][];
        var eventBounds = new double[2][];
        for (var level = 0; level < 3; level++)
        {
            var attributeBound = new double[m];
            for (var a = 0; a < m; a++)
            {
                double best = 0;
                foreach (var e in _g.AttributeEventsSpan(a))
                {
                    best = Math.Max(best, previousEvent[e]);
                }

                attributeBound[a] = AttributeWeight(a) * best;
            }

            attributeBounds[level] = attributeBound;
            if (level == 2)
            {
                break;
            }

            var eventBound = new double[n];
            for (var e = 0; e < n; e++)
            {
                double best = 0;
                foreach (var a in _g.EventAttributesSpan(e))
                {
                    best = Math.Max(best, attributeBound[a]);
                }

                eventBound[e] = Math.Max(S(e), _ev[e].W * best);
            }

            eventBounds[level] = eventBound;
            previousEvent = eventBound;
        }

        _attributeBound1 = attributeBounds[0];
        _eventBound2 = eventBounds[0];
        _attributeBound3 = attributeBounds[1];
        _eventBound4 = eventBounds[1];
        _attributeBound5 = attributeBounds[2];
    }

    /// <summary>Upper bound for a node with <paramref name="remaining"/> edges left (parity gives its kind).</summary>
    private double Bound(int node, int remaining) => remaining switch
    {
        0 => S(node),
        1 => _attributeBound1![node],
        2 => _eventBound2![node],
        3 => _attributeBound3![node],
        4 => _eventBound4![node],
        5 => _attributeBound5![node],
        _ => throw new ArgumentOutOfRangeException(nameof(remaining)),
    };

    private double NodeWeight(int node, int remaining) =>
        remaining % 2 == 0 ? _ev[node].W : AttributeWeight(node);

    /// <summary>One best-first search; all its memory is dropped when it returns.</summary>
    private sealed class PathSearch(ThreatRankCalculator owner, int target, int maxHops)
    {
        private readonly List<SearchNode> _nodes = [];
        private readonly Dictionary<long, int[]> _children = [];
        private readonly PriorityQueue<SearchItem, (double Bound, long Sequence)> _queue =
            new(Comparer<(double Bound, long Sequence)>.Create(static (x, y) =>
                x.Bound != y.Bound ? y.Bound.CompareTo(x.Bound) : x.Sequence.CompareTo(y.Sequence)));

        private long _sequence;

        public (List<(int[] Nodes, double Contribution)> Paths, bool Complete) Run(int top)
        {
            var found = new List<(int[], double)>();
            var root = AddNode(target, -1, owner._ev[target].W, 2 * maxHops);
            PushFirstChild(root);
            var steps = 0;
            while (_queue.TryDequeue(out var item, out _))
            {
                if (++steps > ExplainStepBudget)
                {
                    return (found, false);
                }

                if (item.ChildRank < 0)
                {
                    found.Add((Reconstruct(item.Node), _nodes[item.Node].Product));
                    if (found.Count == top)
                    {
                        return (found, true);
                    }

                    continue;
                }

                var parent = _nodes[item.Node];
                var children = Children(parent.GraphNode, parent.Remaining);
                var childRemaining = parent.Remaining - 1;
                if (item.ChildRank + 1 < children.Length)
                {
                    var sibling = children[item.ChildRank + 1];
                    Push(new SearchItem(item.Node, item.ChildRank + 1), parent.Product * owner.Bound(sibling, childRemaining));
                }

                var child = children[item.ChildRank];
                if (OnPath(item.Node, child, childRemaining))
                {
                    continue;
                }

                var product = parent.Product * owner.NodeWeight(child, childRemaining);
                if (product == 0)
                {
                    // Underflow: this path and all its extensions contribute nothing.
                    continue;
                }

                var id = AddNode(child, item.Node, product, childRemaining);
                if (childRemaining % 2 == 0 && owner._g.Malicious[child])
                {
                    Push(new SearchItem(id, -1), product);
                }

                if (childRemaining > 0)
                {
                    PushFirstChild(id);
                }
            }

            return (found, true);
        }

        private int AddNode(int graphNode, int parent, double product, int remaining)
        {
            _nodes.Add(new SearchNode(graphNode, parent, product, remaining));
            return _nodes.Count - 1;
        }

        private void PushFirstChild(int nodeId)
        {
            var node = _nodes[nodeId];
            var children = Children(node.GraphNode, node.Remaining);
            if (children.Length > 0)
            {
                Push(new SearchItem(nodeId, 0), node.Product * owner.Bound(children[0], node.Remaining - 1));
            }
        }

        private void Push(SearchItem item, double bound) => _queue.Enqueue(item, (bound, _sequence++));

        /// <summary>Neighbours that can still lead to a malicious event, by decreasing bound, then index.</summary>
        private int[] Children(int graphNode, int remaining)
        {
            var key = ((long)graphNode << 3) | (uint)remaining;
            if (_children.TryGetValue(key, out var known))
            {
                return known;
            }

            var neighbours = remaining % 2 == 0
                ? owner._g.EventAttributesSpan(graphNode)
                : owner._g.AttributeEventsSpan(graphNode);
            var childRemaining = remaining - 1;
            var kept = new List<int>(neighbours.Length);
            foreach (var c in neighbours)
            {
                if (owner.Bound(c, childRemaining) > 0)
                {
                    kept.Add(c);
                }
            }

            var children = kept.ToArray();
            Array.Sort(children, (x, y) =>
            {
                var c = owner.Bound(y, childRemaining).CompareTo(owner.Bound(x, childRemaining));
                return c != 0 ? c : x.CompareTo(y);
            });
            _children.Add(key, children);
            return children;
        }

        /// <summary>True when the graph node (of the kind given by the parity) is already on the path.</summary>
        private bool OnPath(int nodeId, int graphNode, int remaining)
        {
            for (var id = nodeId; id >= 0; id = _nodes[id].Parent)
            {
                var node = _nodes[id];
                if (node.GraphNode == graphNode && node.Remaining % 2 == remaining % 2)
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>The path's graph nodes from the malicious source to the target.</summary>
        private int[] Reconstruct(int nodeId)
        {
            var nodes = new List<int>();
            for (var id = nodeId; id >= 0; id = _nodes[id].Parent)
            {
                nodes.Add(_nodes[id].GraphNode);
            }

            return [.. nodes];
        }

        private readonly record struct SearchNode(int GraphNode, int Parent, double Product, int Remaining);

        // ChildRank ≥ 0: the child of that rank of Node; −1: Node itself as a complete path.
        private readonly record struct SearchItem(int Node, int ChildRank);
    }
}
