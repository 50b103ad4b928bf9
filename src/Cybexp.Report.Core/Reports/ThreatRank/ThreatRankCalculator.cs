namespace Cybexp.Report.Core.Reports.ThreatRank;

/// <summary>
/// Computes ThreatRank exactly as <c>spec/threatrank.md</c> defines it, over one user's
/// <see cref="ThreatRankGraph"/>, for one decay and one "now".
/// </summary>
/// <remarks>
/// <para>
/// The sum over simple paths is computed as sums over walks minus the walks that repeat a node.
/// Walk sums come from vectors computed once per calculator by sparse products over the
/// weighted adjacency (cost O(edges)); the repeated-node corrections for paths of at most seven
/// nodes are a fixed set of terms. Each needs either those vectors, co-occurrence sums of a pair
/// of attributes (memoised), or a per-attribute aggregate V(a) (memoised, cost
/// Σ over a's events of their degree). No path is enumerated, so the cost of a score does not
/// grow with the number of paths. The derivation is written out in <c>ThreatRankCalculator.Derivation.md</c>
/// beside this file.
/// </para>
/// <para>
/// Sums run in index order, so results are bit-for-bit repeatable. An instance memoises
/// intermediate sums and is <b>not thread-safe</b>; create one per report (or lock around it).
/// </para>
/// </remarks>
public sealed partial class ThreatRankCalculator
{
    /// <summary>The default decay δ per day of age.</summary>
    public const double DefaultDecay = 0.998;

    /// <summary>The smallest accepted decay.</summary>
    public const double MinDecay = 0.00001;

    /// <summary>The largest accepted decay.</summary>
    public const double MaxDecay = 1.0;

    /// <summary>The default hop limit H (paths of up to 2H edges).</summary>
    public const int DefaultMaxHops = 3;

    /// <summary>The smallest accepted hop limit.</summary>
    public const int MinMaxHops = 1;

    /// <summary>The largest accepted hop limit.</summary>
    public const int MaxMaxHops = 3;

    /// <summary>The default number of events a ranking or paths an explanation returns.</summary>
    public const int DefaultTop = 10;

    /// <summary>The largest number of events a ranking returns.</summary>
    public const int MaxRankTop = 1000;

    private const double SecondsPerDay = 86400.0;

    // Pairs whose smaller attribute has fewer events than this are cheap to recount, so they are
    // not memoised; this keeps the memo to pairs of busy attributes.
    private const int PairMemoMinDegree = 32;

    private const byte Unreached = byte.MaxValue;

    private readonly ThreatRankGraph _g;

    // Per event, kept together so that one visit reads them all: w(e) = δ^d(e) / L(e) (0 for an event without
    // attributes: it lies on no path), S(e) = w(e) for malicious e else 0, and
    // Q(e) = Σ_{a∈N(e)} w(a)(X1(a) − S(e)): walks e0 a e with e0 ≠ e, weight without w(e);
    // plus sums over the event's attributes that let V(a) run without visiting them.
    private readonly EventSums[] _ev;

    // Per attribute: w(a) = 1 / L(a), X1(a) = Σ_{e∈N(a)} S(e), Wn(a) = Σ_{e∈N(a)} w(e),
    // SW(a) = Σ_{e∈N(a)} w(e)S(e), R(a) = Σ_{e∈N(a)} w(e)Q(e).
    private readonly AttributeSums[] _at;

    // Shortest distance (in edges) from a malicious event to each attribute: 1, 3, 5 or Unreached.
    private readonly byte[] _attributeDistance;

    private readonly Dictionary<long, PairSums> _pairMemo = [];
    private readonly Dictionary<int, double[]> _cycleMemo = [];
    private double[]? _v;
    private bool[]? _vKnown;
    private PairScratch[]? _scratch;
    private readonly List<int> _touched = [];
    private int _scratchGeneration;
    private int[]? _attributeMark;
    private int[]? _eventMark;
    private int _markGeneration;

    /// <summary>Prepares the walk sums for one graph, decay and time.</summary>
    /// <param name="graph">The user's visible graph.</param>
    /// <param name="now">The time the report is computed, epoch seconds (UTC).</param>
    /// <param name="decay">δ, between <see cref="MinDecay"/> and <see cref="MaxDecay"/>.</param>
    public ThreatRankCalculator(ThreatRankGraph graph, double now, double decay = DefaultDecay)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (!double.IsFinite(now))
        {
            throw new ArgumentOutOfRangeException(nameof(now), now, "now must be a finite number of epoch seconds.");
        }

        if (!(decay >= MinDecay && decay <= MaxDecay))
        {
            throw new ArgumentOutOfRangeException(nameof(decay), decay, $"decay must be between {MinDecay} and {MaxDecay}.");
        }

        _g = graph;
        Now = now;
        Decay = decay;
        var n = graph.EventCount;
        var m = graph.AttributeCount;

        _ev = new EventSums[n];
        for (var e = 0; e < n; e++)
        {
            var degree = graph.EventDegreeUnchecked(e);
            if (degree == 0)
            {
                continue;
            }

            var days = Math.Max(0.0, Math.Floor((now - graph.Timestamps[e]) / SecondsPerDay));
            var w = Math.Pow(decay, days) / degree;
            _ev[e] = new EventSums(w, graph.Malicious[e] ? w : 0.0, 0.0);
        }

        _at = new AttributeSums[m];
        for (var a = 0; a < m; a++)
        {
            double x1 = 0, sw = 0, wn = 0;
            foreach (var e in graph.MaliciousEventsSpan(a))
            {
                var w = _ev[e].W;
                x1 += w;
                sw += w * w;
            }

            foreach (var e in graph.AttributeEventsSpan(a))
            {
                wn += _ev[e].W;
            }

            _at[a] = new AttributeSums(1.0 / graph.AttributeDegreeUnchecked(a), x1, wn, sw, 0.0);
        }

        for (var e = 0; e < n; e++)
        {
            var s = _ev[e].S;
            double q = 0, w1 = 0, w2 = 0, w2x = 0;
            foreach (var a in graph.EventAttributesSpan(e))
            {
                ref readonly var at = ref _at[a];
                q += at.W * (at.X1 - s);
                w1 += at.W;
                w2 += at.W * at.W;
                w2x += at.W * at.W * at.X1;
            }

            ref var ev = ref _ev[e];
            ev.Q = q;
            ev.W1 = w1;
            ev.W2 = w2;
            ev.W2X = w2x;
        }

        for (var a = 0; a < m; a++)
        {
            double r = 0;
            foreach (var e in graph.AttributeEventsSpan(a))
            {
                r += _ev[e].W * _ev[e].Q;
            }

            _at[a].R = r;
        }

        for (var e = 0; e < n; e++)
        {
            double fe = 0;
            foreach (var a in graph.EventAttributesSpan(e))
            {
                fe += SuffixFree(a);
            }

            _ev[e].FE = fe;
        }

        _attributeDistance = DistancesFromMalicious(graph);
    }

    /// <summary>The graph scored.</summary>
    public ThreatRankGraph Graph => _g;

    /// <summary>The time the scores are computed for, epoch seconds.</summary>
    public double Now { get; }

    /// <summary>The decay δ per day of age.</summary>
    public double Decay { get; }

    /// <summary>
    /// TR(p) for the event with hash <paramref name="eventHash"/> (any case): −1 when it is
    /// malicious, 0 when no path of at most 2H edges reaches it from a malicious event, and
    /// failure <see cref="ThreatRankResult.EventNotFound"/> when it is not an event of the graph.
    /// </summary>
    public ThreatRankResult Score(string eventHash, int maxHops = DefaultMaxHops)
    {
        ArgumentNullException.ThrowIfNull(eventHash);
        CheckMaxHops(maxHops);
        return _g.TryFindEvent(eventHash, out var p)
            ? ThreatRankResult.Success(ScoreIndex(p, maxHops))
            : ThreatRankResult.Failure(ThreatRankResult.EventNotFound);
    }

    /// <summary>TR(p) for event index <paramref name="eventIndex"/> of the graph.</summary>
    public double Score(int eventIndex, int maxHops = DefaultMaxHops)
    {
        if ((uint)eventIndex >= (uint)_g.EventCount)
        {
            throw new ArgumentOutOfRangeException(nameof(eventIndex), eventIndex, "No such event index.");
        }

        CheckMaxHops(maxHops);
        return ScoreIndex(eventIndex, maxHops);
    }

    /// <summary>
    /// Scores every non-malicious event among <paramref name="candidateEvents"/> (event indices;
    /// duplicates ignored) and returns the <paramref name="top"/> most suspicious: score ascending
    /// (most negative first), ties by hash ascending. Events scoring 0 (no path) are not listed.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="top"/> is not between 1 and <see cref="MaxRankTop"/>, or an index is out of range.
    /// </exception>
    public IReadOnlyList<RankedEvent> RankAll(IEnumerable<int> candidateEvents, int maxHops = DefaultMaxHops, int top = DefaultTop)
    {
        ArgumentNullException.ThrowIfNull(candidateEvents);
        CheckMaxHops(maxHops);
        CheckRankTop(top);
        var candidates = candidateEvents.ToArray();
        foreach (var e in candidates)
        {
            if ((uint)e >= (uint)_g.EventCount)
            {
                throw new ArgumentOutOfRangeException(nameof(candidateEvents), e, "No such event index.");
            }
        }

        Array.Sort(candidates);
        var scored = new List<(double Score, int Event)>();
        for (var i = 0; i < candidates.Length; i++)
        {
            var e = candidates[i];
            if ((i > 0 && candidates[i - 1] == e) || _g.Malicious[e])
            {
                continue;
            }

            var score = ScoreIndex(e, maxHops);
            if (score < 0)
            {
                scored.Add((score, e));
            }
        }

        // Event index order is hash order, so the index breaks ties by hash.
        scored.Sort(static (x, y) => x.Score != y.Score ? x.Score.CompareTo(y.Score) : x.Event.CompareTo(y.Event));
        var result = new RankedEvent[Math.Min(top, scored.Count)];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = new RankedEvent(_g.EventHash(scored[i].Event), scored[i].Score);
        }

        return result;
    }

    /// <summary>
    /// <see cref="RankAll(IEnumerable{int}, int, int)"/> over the events whose timestamp t
    /// satisfies <paramref name="fromTimestamp"/> ≤ t ≤ <paramref name="toTimestamp"/> (both ends included).
    /// </summary>
    public IReadOnlyList<RankedEvent> RankAll(double fromTimestamp, double toTimestamp, int maxHops = DefaultMaxHops, int top = DefaultTop)
    {
        var candidates = new List<int>();
        for (var e = 0; e < _g.EventCount; e++)
        {
            var t = _g.Timestamps[e];
            if (t >= fromTimestamp && t <= toTimestamp)
            {
                candidates.Add(e);
            }
        }

        return RankAll(candidates, maxHops, top);
    }

    private static void CheckMaxHops(int maxHops)
    {
        if (maxHops is < MinMaxHops or > MaxMaxHops)
        {
            throw new ArgumentOutOfRangeException(nameof(maxHops), maxHops, $"max_hops must be between {MinMaxHops} and {MaxMaxHops}.");
        }
    }

    private static void CheckRankTop(int top)
    {
        if (top is < 1 or > MaxRankTop)
        {
            throw new ArgumentOutOfRangeException(nameof(top), top, $"top must be between 1 and {MaxRankTop}.");
        }
    }

    private double AttributeWeight(int a) => _at[a].W;

    private double S(int e) => _ev[e].S;

    private double ScoreIndex(int p, int maxHops)
    {
        if (_g.Malicious[p])
        {
            return -1.0;
        }

        var wp = _ev[p].W;
        var attributes = _g.EventAttributesSpan(p);
        var nearest = int.MaxValue;
        foreach (var a in attributes)
        {
            nearest = Math.Min(nearest, _attributeDistance[a]);
        }

        // No walk, hence no path, of at most 2H edges from a malicious event: exactly 0.
        if (wp == 0 || nearest == Unreached || nearest + 1 > 2 * maxHops)
        {
            return 0.0;
        }

        // Paths e0 a p.
        double inner = 0;
        foreach (var a in attributes)
        {
            inner += AttributeWeight(a) * _at[a].X1;
        }

        if (maxHops >= 2)
        {
            // Paths e0 a1 e2 a3 p: walks with e2 ≠ p, e0 ≠ e2 (inside Q) and a1 ≠ a3.
            var qp = _ev[p].Q;
            foreach (var a3 in attributes)
            {
                var wa3 = AttributeWeight(a3);
                inner += wa3 * (_at[a3].R - (wp * qp) - (wa3 * ((_at[a3].X1 * (_at[a3].Wn - wp)) - _at[a3].Sw)));
            }
        }

        if (maxHops >= 3)
        {
            inner += SixEdgePaths(p);
        }

        // A path weight is a product of positive weights; rounding in the corrections must not
        // turn a sum of positive terms positive.
        var score = -wp * inner;
        return score < 0 ? score : 0.0;
    }

    /// <summary>
    /// Σ over simple paths e0 a1 e2 a3 e4 a5 p of the weights of all nodes but p.
    /// Part A counts, for each suffix (a5, e4 ≠ p, a3 ≠ a5), the simple prefixes that avoid e4 and
    /// a5; part B takes back those whose e2 is p.
    /// </summary>
    private double SixEdgePaths(int p)
    {
        var attributes = _g.EventAttributesSpan(p);
        var d = attributes.Length;
        var wp = _ev[p].W;
        var qp = _ev[p].Q;
        var c = new double[d * d];
        var cs = new double[d * d];
        for (var i = 0; i < d; i++)
        {
            for (var j = i + 1; j < d; j++)
            {
                var pair = Pair(attributes[i], attributes[j]);
                c[(i * d) + j] = c[(j * d) + i] = pair.C;
                cs[(i * d) + j] = cs[(j * d) + i] = pair.Cs;
            }
        }

        double partA = 0;
        double partB = 0;
        for (var i = 0; i < d; i++)
        {
            var a5 = attributes[i];
            var wa5 = AttributeWeight(a5);
            var x5 = _at[a5].X1;

            // H(p, a5): the suffixes whose e4 is p itself, to be taken out of V(a5).
            double h = 0;
            for (var j = 0; j < d; j++)
            {
                if (j == i)
                {
                    continue;
                }

                var a3 = attributes[j];
                var wa3 = AttributeWeight(a3);
                var cij = c[(i * d) + j];
                var g0 = _at[a3].R - (wp * qp)
                    - (wa3 * ((_at[a3].X1 * (_at[a3].Wn - wp)) - _at[a3].Sw))
                    - (wa5 * ((x5 * (cij - wp)) - cs[(i * d) + j]));
                h += wa3 * g0;
                partB += wa5 * wa3 * (qp - (wa3 * _at[a3].X1) - (wa5 * x5)) * (cij - wp);
            }

            partA += wa5 * (V(a5) - (wp * h));
        }

        partB -= MaliciousTriples(p);
        return partA - (wp * partB);
    }

    /// <summary>
    /// V(a) = Σ_{e∈N(a)} w(e) Σ_{a3∈N(e)∖a} w(a3) G0(a3; e, a): suffix (a, e, a3) joined to the
    /// simple prefixes e0 a1 e2 a3 with e2 ≠ e, e0 ≠ e and a1 ≠ a (p is not excluded here).
    /// </summary>
    /// <remarks>
    /// Expanded, w(a3) G0 = F(a3) + w(e)·(terms in w(a3), w(a3)², w(a3)² X1(a3)) − w(a) w(a3)
    /// (X1(a) C(a,a3) − CS(a,a3)), so the inner sum over a3 comes from per-event sums minus a's
    /// own term, and the pair part is Σ_b w(b) C(a,b) (CS(a,b) − X1(a) C(a,b)) over the
    /// attributes b meeting a. One scatter pass over a's events' attributes, then sequential work.
    /// </remarks>
    private double V(int a)
    {
        _v ??= new double[_g.AttributeCount];
        _vKnown ??= new bool[_g.AttributeCount];
        if (_vKnown[a])
        {
            return _v[a];
        }

        var scratch = _scratch ??= new PairScratch[_g.AttributeCount];
        var touched = _touched;
        touched.Clear();
        var generation = ++_scratchGeneration;
        var events = _g.AttributeEventsSpan(a);

        // C(a, b) = Σ_{e∈N(a)∩N(b)} w(e) and CS(a, b) = Σ w(e)S(e), for every b ≠ a meeting a.
        foreach (var e in events)
        {
            var we = _ev[e].W;
            var wse = we * _ev[e].S;
            foreach (var b in _g.EventAttributesSpan(e))
            {
                ref var slot = ref scratch[b];
                if (slot.Generation != generation)
                {
                    slot = new PairScratch { Generation = generation };
                    if (b != a)
                    {
                        touched.Add(b);
                    }
                }

                slot.C += we;
                slot.Cs += wse;
            }
        }

        ref readonly var own = ref _at[a];
        var wa = own.W;
        var xa = own.X1;
        var fa = SuffixFree(a);
        double sum = 0;
        foreach (var e in events)
        {
            ref readonly var ev = ref _ev[e];
            var we = ev.W;
            if (we == 0)
            {
                continue;
            }

            var se = ev.S;
            var w1 = ev.W1 - wa;
            var w2 = ev.W2 - (wa * wa);
            var w2x = ev.W2X - (wa * wa * xa);
            var inner = ev.FE - fa + (we * ((-ev.Q * w1) + w2x - (se * w2) + (wa * xa * w1) - (wa * se * w1)));
            if (se != 0)
            {
                inner -= se * CycleExcluding(e, a);
            }

            sum += we * inner;
        }

        double pairs = 0;
        foreach (var b in touched)
        {
            ref readonly var slot = ref scratch[b];
            pairs += _at[b].W * slot.C * (slot.Cs - (xa * slot.C));
        }

        sum += wa * pairs;
        _v[a] = sum;
        _vKnown[a] = true;
        return sum;
    }

    /// <summary>F(a) = w(a)R(a) − w(a)²(X1(a)Wn(a) − SW(a)): the part of w(a3) G0 free of the suffix.</summary>
    private double SuffixFree(int a)
    {
        ref readonly var at = ref _at[a];
        return (at.W * at.R) - (at.W * at.W * ((at.X1 * at.Wn) - at.Sw));
    }

    /// <summary>
    /// For a malicious event e and one of its attributes a: Σ over ordered pairs (a1, a3) of
    /// distinct attributes of e other than a of w(a1) w(a3) (C(a1, a3) − w(e)), the prefixes
    /// e a1 e2 a3 that start at e itself (4-cycles through e).
    /// </summary>
    private double CycleExcluding(int e, int a)
    {
        var attributes = _g.EventAttributesSpan(e);
        if (!_cycleMemo.TryGetValue(e, out var rows))
        {
            var d = attributes.Length;
            var we = _ev[e].W;
            var weights = new double[d];
            for (var i = 0; i < d; i++)
            {
                weights[i] = AttributeWeight(attributes[i]);
            }

            // rows[0] = Σ_{i≠j} w_i w_j c_ij; rows[1 + k] = Σ_{j≠k} w_j c_kj.
            rows = new double[d + 1];
            var pair = new double[d * d];
            for (var i = 0; i < d; i++)
            {
                for (var j = i + 1; j < d; j++)
                {
                    pair[(i * d) + j] = pair[(j * d) + i] = Pair(attributes[i], attributes[j]).C - we;
                }
            }

            double total = 0;
            for (var k = 0; k < d; k++)
            {
                double row = 0;
                for (var j = 0; j < d; j++)
                {
                    if (j != k)
                    {
                        row += weights[j] * pair[(k * d) + j];
                    }
                }

                rows[1 + k] = row;
                total += weights[k] * row;
            }

            rows[0] = total;
            _cycleMemo.Add(e, rows);
        }

        var excluded = attributes.BinarySearch(a);
        return rows[0] - (2 * AttributeWeight(a) * rows[1 + excluded]);
    }

    /// <summary>
    /// Σ over ordered triples of distinct attributes (a1, a3, a5) of p of
    /// w(a1) w(a3) w(a5) Σ_{e∈M∩N(a1)∩N(a3)∩N(a5)} w(e)²: the malicious e4 sharing a3 and a5 with p
    /// whose prefix e4 a1 p a3 returns through a third attribute of p.
    /// </summary>
    private double MaliciousTriples(int p)
    {
        var attributes = _g.EventAttributesSpan(p);
        if (attributes.Length < 3)
        {
            return 0;
        }

        _attributeMark ??= new int[_g.AttributeCount];
        _eventMark ??= new int[_g.EventCount];
        var generation = ++_markGeneration;
        foreach (var a in attributes)
        {
            _attributeMark[a] = generation;
        }

        // An event meeting three attributes of p meets one outside the two with most malicious
        // events, so those two lists need not be walked.
        var order = attributes.ToArray();
        Array.Sort(order, (x, y) =>
        {
            var c = _g.AttributeMaliciousCounts[x].CompareTo(_g.AttributeMaliciousCounts[y]);
            return c != 0 ? c : x.CompareTo(y);
        });

        double sum = 0;
        for (var i = 0; i < order.Length - 2; i++)
        {
            foreach (var e in _g.MaliciousEventsSpan(order[i]))
            {
                if (_eventMark[e] == generation)
                {
                    continue;
                }

                _eventMark[e] = generation;
                double e1 = 0, e2 = 0, e3 = 0;
                foreach (var b in _g.EventAttributesSpan(e))
                {
                    if (_attributeMark[b] == generation)
                    {
                        var x = AttributeWeight(b);
                        e3 += e2 * x;
                        e2 += e1 * x;
                        e1 += x;
                    }
                }

                sum += _ev[e].W * _ev[e].W * 6 * e3;
            }
        }

        return sum;
    }

    /// <summary>C(a, b) = Σ_{e∈N(a)∩N(b)} w(e) and CS(a, b) = Σ_{e∈N(a)∩N(b)} w(e)S(e).</summary>
    private PairSums Pair(int a, int b)
    {
        var degreeA = _g.AttributeDegreeUnchecked(a);
        var degreeB = _g.AttributeDegreeUnchecked(b);
        var small = degreeA <= degreeB ? a : b;
        var other = degreeA <= degreeB ? b : a;
        var memoise = Math.Min(degreeA, degreeB) >= PairMemoMinDegree;
        var key = ((long)Math.Min(a, b) << 32) | (uint)Math.Max(a, b);
        if (memoise && _pairMemo.TryGetValue(key, out var known))
        {
            return known;
        }

        double c = 0, cs = 0;
        foreach (var e in _g.AttributeEventsSpan(small))
        {
            if (_g.HasEdge(e, other))
            {
                c += _ev[e].W;
                cs += _ev[e].W * S(e);
            }
        }

        var sums = new PairSums(c, cs);
        if (memoise)
        {
            _pairMemo.Add(key, sums);
        }

        return sums;
    }

    private static byte[] DistancesFromMalicious(ThreatRankGraph graph)
    {
        var m = graph.AttributeCount;
        var distance = new byte[m];
        Array.Fill(distance, Unreached);
        var frontier = new List<int>();
        for (var a = 0; a < m; a++)
        {
            if (graph.AttributeMaliciousCounts[a] > 0)
            {
                distance[a] = 1;
                frontier.Add(a);
            }
        }

        var eventSeen = new bool[graph.EventCount];
        for (byte level = 3; level <= 5; level += 2)
        {
            var next = new List<int>();
            foreach (var a in frontier)
            {
                foreach (var e in graph.AttributeEventsSpan(a))
                {
                    if (eventSeen[e])
                    {
                        continue;
                    }

                    eventSeen[e] = true;
                    foreach (var b in graph.EventAttributesSpan(e))
                    {
                        if (distance[b] == Unreached)
                        {
                            distance[b] = level;
                            next.Add(b);
                        }
                    }
                }
            }

            frontier = next;
        }

        return distance;
    }

    private readonly record struct PairSums(double C, double Cs);

    private struct PairScratch
    {
        public int Generation;
        public double C;
        public double Cs;
    }

    private struct EventSums(double w, double s, double q)
    {
        public double W = w;
        public double S = s;
        public double Q = q;

        // Over the event's attributes a: Σ w(a), Σ w(a)², Σ w(a)² X1(a), Σ F(a) (see SuffixFree).
        public double W1;
        public double W2;
        public double W2X;
        public double FE;
    }

    private struct AttributeSums(double w, double x1, double wn, double sw, double r)
    {
        public double W = w;
        public double X1 = x1;
        public double Wn = wn;
        public double Sw = sw;
        public double R = r;
    }
}
