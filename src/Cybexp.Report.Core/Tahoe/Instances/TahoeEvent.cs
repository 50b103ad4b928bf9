using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A TAHOE event: attributes and objects seen together, owned by an organisation (<c>orgid</c>) at a time.
/// Document: <c>itype, orgid, timestamp, category, data, _cref, _ref, _ben_ref, _mal_ref, sub_type, _hash</c>;
/// unique text <c>"event" + sub_type + orgid + str(timestamp) + canonical(data)</c>. Category and contexts are not
/// hashed, so <see cref="SetCategory"/> and <see cref="SetContext"/> keep the hash.
/// </summary>
public sealed class TahoeEvent : TahoeComposite
{
    private TahoeEvent(string subType, ComposedData composed, string orgid, double timestamp)
        : base("event", subType, composed)
    {
        Orgid = orgid;
        Timestamp = timestamp;
        Category = "unknown";
        BenRef = [];
        MalRef = [];
    }

    private TahoeEvent(TahoeEvent source, string category, ImmutableArray<InstanceHash> benRef, ImmutableArray<InstanceHash> malRef)
        : base(source, source.Cref, source.Ref)
    {
        Orgid = source.Orgid;
        Timestamp = source.Timestamp;
        Category = category;
        BenRef = benRef;
        MalRef = malRef;
    }

    /// <summary>The owning organisation's <c>_hash</c> (any string in the original).</summary>
    public string Orgid { get; }

    /// <summary>Unix seconds (UTC), always a float as in the original.</summary>
    public double Timestamp { get; }

    /// <summary><c>benign</c>, <c>malicious</c> or <c>unknown</c> (the default).</summary>
    public string Category { get; }

    /// <summary><c>_ben_ref</c>: descendants seen in a benign context in this event, sorted.</summary>
    public ImmutableArray<InstanceHash> BenRef { get; }

    /// <summary><c>_mal_ref</c>: descendants seen in a malicious context in this event, sorted.</summary>
    public ImmutableArray<InstanceHash> MalRef { get; }

    /// <summary>Builds an event.</summary>
    /// <param name="subType">The event type, e.g. <c>file_download</c>.</param>
    /// <param name="children">Attributes and objects of the event.</param>
    /// <param name="orgid">The owning organisation's hash.</param>
    /// <param name="timestamp">Unix seconds.</param>
    /// <param name="benign">Descendants (children or their descendants) seen in a benign context.</param>
    /// <param name="malicious">Descendants seen in a malicious context.</param>
    /// <exception cref="TahoeException">An argument is invalid; names the field.</exception>
    public static TahoeEvent Create(
        string subType,
        IEnumerable<TahoeInstance> children,
        string orgid,
        double timestamp,
        IEnumerable<TahoeInstance>? benign = null,
        IEnumerable<TahoeInstance>? malicious = null) =>
        Build(subType, children, InstanceRules.RequireString(orgid, "orgid"), timestamp, benign, malicious);

    /// <summary>
    /// Builds an event from untyped input: <paramref name="orgid"/> must be a str and <paramref name="timestamp"/> an
    /// int, float or bool (Python <c>float(timestamp)</c>; a numeric string is rejected as in the original).
    /// </summary>
    public static TahoeEvent Create(
        string subType,
        IEnumerable<TahoeInstance> children,
        TahoeValue orgid,
        TahoeValue timestamp,
        IEnumerable<TahoeInstance>? benign = null,
        IEnumerable<TahoeInstance>? malicious = null)
    {
        var org = InstanceRules.RequireString(orgid, "orgid");
        var ts = InstanceRules.RequireTimestamp(timestamp);
        return Build(subType, children, org, ts, benign, malicious);
    }

    /// <summary>A copy with another category; the hash is unchanged.</summary>
    public TahoeEvent SetCategory(string category) =>
        new(this, InstanceRules.RequireCategory(category), BenRef, MalRef);

    /// <summary>
    /// The original's <c>set_context</c>: each pair gives instances and the context (benign, malicious or unknown) they
    /// were seen in; each context at most once, no instance in two contexts, every instance a descendant
    /// (in <see cref="TahoeComposite.Ref"/>). Unknown removes an instance from both lists. The hash is unchanged.
    /// </summary>
    public TahoeEvent SetContext(params (IEnumerable<TahoeInstance> Instances, string Context)[] contexts)
    {
        ArgumentNullException.ThrowIfNull(contexts);
        if (contexts.Length is 0 or > 3)
        {
            throw new TahoeException(TahoeErrorKind.ValueError, "context", "give one to three (instances, context) pairs");
        }

        IEnumerable<TahoeInstance>? ben = null, mal = null, unk = null;
        foreach (var (instances, context) in contexts)
        {
            switch (context)
            {
                case "benign" when ben is null:
                    ben = instances ?? [];
                    break;
                case "malicious" when mal is null:
                    mal = instances ?? [];
                    break;
                case "unknown" when unk is null:
                    unk = instances ?? [];
                    break;
                default:
                    throw new TahoeException(
                        TahoeErrorKind.ValueError,
                        "context",
                        $"'context' must be benign, malicious or unknown, each given once, got '{context}'");
            }
        }

        var (benRef, malRef) = MakeContextRef(Ref, BenRef, MalRef, ben, mal, unk);
        return new TahoeEvent(this, Category, benRef, malRef);
    }

    /// <summary>The original's <c>add_instance</c>: a new event (new data and hash); see <see cref="TahoeObject.AddInstance"/>.</summary>
    public TahoeEvent AddInstance(IEnumerable<TahoeInstance> add, IEnumerable<TahoeInstance> storedChildren) =>
        Edit(add, null, storedChildren);

    /// <summary>The original's <c>remove_instance</c>; see <see cref="TahoeObject.AddInstance"/>.</summary>
    public TahoeEvent RemoveInstance(IEnumerable<TahoeInstance> remove, IEnumerable<TahoeInstance> storedChildren) =>
        Edit(null, remove, storedChildren);

    /// <summary>
    /// The original's <c>edit</c>: new children, data and hash; orgid, timestamp, category and contexts are kept as
    /// they are (the original does not revisit the context lists).
    /// </summary>
    public TahoeEvent Edit(IEnumerable<TahoeInstance>? add, IEnumerable<TahoeInstance>? remove, IEnumerable<TahoeInstance> storedChildren)
    {
        var children = Composition.Edit(Cref, add, remove, storedChildren);
        var rebuilt = new TahoeEvent(SubType, Composition.Compose(CollectionsMarshal.AsSpan(children), UniquePrefix.Event(SubType, Orgid, Timestamp), childForm: false), Orgid, Timestamp);
        return new TahoeEvent(rebuilt, Category, BenRef, MalRef);
    }

    internal static TahoeEvent Restore(
        string subType,
        TahoeDict data,
        ImmutableArray<InstanceHash> cref,
        ImmutableArray<InstanceHash> refs,
        string orgid,
        double timestamp,
        string category,
        ImmutableArray<InstanceHash> benRef,
        ImmutableArray<InstanceHash> malRef)
    {
        var plain = new TahoeEvent(subType, ComposedData.Restored(data, UniquePrefix.Event(subType, orgid, timestamp), childForm: false, cref, refs), orgid, timestamp);
        return new TahoeEvent(plain, category, benRef, malRef);
    }

    private static TahoeEvent Build(
        string subType,
        IEnumerable<TahoeInstance> children,
        string orgid,
        double timestamp,
        IEnumerable<TahoeInstance>? benign,
        IEnumerable<TahoeInstance>? malicious)
    {
        var list = Composition.ChildrenToCompose(children, "children");
        var composed = Composition.Compose(list, UniquePrefix.Event(subType, orgid, timestamp), childForm: false);
        var (benRef, malRef) = MakeContextRef(composed.Ref, [], [], benign, malicious, null);
        InstanceRules.RequireSubType(subType);
        var plain = new TahoeEvent(subType, composed, orgid, timestamp);
        return benRef.IsEmpty && malRef.IsEmpty ? plain : new TahoeEvent(plain, plain.Category, benRef, malRef);
    }

    // The original's _make_context_ref: only the given instances' own hashes are recorded (not their descendants).
    private static (ImmutableArray<InstanceHash> Ben, ImmutableArray<InstanceHash> Mal) MakeContextRef(
        ImmutableArray<InstanceHash> refs,
        ImmutableArray<InstanceHash> benRef,
        ImmutableArray<InstanceHash> malRef,
        IEnumerable<TahoeInstance>? ben,
        IEnumerable<TahoeInstance>? mal,
        IEnumerable<TahoeInstance>? unk)
    {
        if (ben is null && mal is null && unk is null)
        {
            return (benRef, malRef);
        }

        var newBen = ContextHashes(ben, "benign");
        var newMal = ContextHashes(mal, "malicious");
        var newUnk = ContextHashes(unk, "unknown");
        if (newBen.Count + newMal.Count + newUnk.Count == 0)
        {
            return (benRef, malRef);
        }

        Disjoint(newBen, newMal, "benign", "malicious");
        Disjoint(newMal, newUnk, "malicious", "unknown");
        Disjoint(newUnk, newBen, "benign", "unknown");

        var refSet = new HashSet<InstanceHash>(refs);
        var outside = new List<InstanceHash>();
        foreach (var h in newBen.Concat(newMal).Concat(newUnk))
        {
            if (!refSet.Contains(h))
            {
                outside.Add(h);
            }
        }

        if (outside.Count > 0)
        {
            outside.Sort();
            throw new TahoeException(
                TahoeErrorKind.ValueError,
                "context",
                $"only descendants of the event can be given a context; not in '_ref': {string.Join(", ", outside)}");
        }

        var benSet = new HashSet<InstanceHash>(benRef);
        var malSet = new HashSet<InstanceHash>(malRef);
        foreach (var h in newBen)
        {
            benSet.Add(h);
            malSet.Remove(h);
        }

        foreach (var h in newMal)
        {
            benSet.Remove(h);
            malSet.Add(h);
        }

        foreach (var h in newUnk)
        {
            // As the original: an unknown hash leaves the benign list, or else the malicious one.
            if (!benSet.Remove(h))
            {
                malSet.Remove(h);
            }
        }

        return (InstanceRules.Sorted(benSet), InstanceRules.Sorted(malSet));
    }

    private static HashSet<InstanceHash> ContextHashes(IEnumerable<TahoeInstance>? instances, string context)
    {
        var set = new HashSet<InstanceHash>();
        if (instances is null)
        {
            return set;
        }

        foreach (var i in instances)
        {
            if (i is null || i.Itype is not ("attribute" or "object"))
            {
                throw new TahoeException(
                    TahoeErrorKind.TypeError,
                    context,
                    $"only attributes or objects can be given the {context} context, got {(i is null ? "None" : i.Itype)}");
            }

            set.Add(i.Hash);
        }

        return set;
    }

    private static void Disjoint(HashSet<InstanceHash> a, HashSet<InstanceHash> b, string aName, string bName)
    {
        var both = a.Where(b.Contains).Order().ToList();
        if (both.Count > 0)
        {
            throw new TahoeException(
                TahoeErrorKind.ValueError,
                "context",
                $"an instance cannot be both {aName} and {bName}: {string.Join(", ", both)}");
        }
    }

    private protected override UniquePrefix TextPrefix => UniquePrefix.Event(SubType, Orgid, Timestamp);

    private protected override TahoeDict BuildDocument() =>
        TahoeDict.From(
        [
            Entry("itype", Itype), Entry("orgid", Orgid), Entry("timestamp", TahoeValue.Float(Timestamp)), Entry("category", Category),
            Entry("data", Data), Entry("_cref", Cref), Entry("_ref", Ref), Entry("_ben_ref", BenRef), Entry("_mal_ref", MalRef),
            Entry("sub_type", SubType), Entry("_hash", Hash.Value),
        ]);
}
