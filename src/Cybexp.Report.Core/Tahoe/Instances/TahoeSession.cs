using System.Collections.Immutable;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A TAHOE session: a group of events (e.g. one honeypot login). Document: <c>itype, data, _cref, _ref, sub_type,
/// _hash</c>; unique text <c>"session" + sub_type + canonical(data)</c>. Unlike other instances, its <c>_ref</c> also
/// holds its events (<see cref="Events"/>); adding or removing events keeps the hash.
/// </summary>
public sealed class TahoeSession : TahoeComposite
{
    private TahoeSession(string subType, ComposedData composed)
        : base("session", subType, composed)
    {
        Events = [];
    }

    private TahoeSession(TahoeSession source, ImmutableArray<InstanceHash> refs, ImmutableArray<InstanceHash> events)
        : base(source, source.Cref, refs)
    {
        Events = events;
    }

    /// <summary>
    /// The event hashes in <c>_ref</c>, sorted: those added through <see cref="AddEvent"/>. For a session read from a
    /// document this is every <c>_ref</c> hash that is not a descendant of its children, which the document alone
    /// cannot tell apart; see <see cref="TahoeInstance.FromDocument"/>.
    /// </summary>
    public ImmutableArray<InstanceHash> Events { get; }

    /// <summary>Builds a session from its identifying attributes or objects.</summary>
    /// <exception cref="TahoeException">A child is not an attribute or object, there are none, or the sub_type is invalid.</exception>
    public static TahoeSession Create(string subType, IEnumerable<TahoeInstance> children)
    {
        var list = Composition.ChildrenToCompose(children, "children");
        InstanceRules.RequireSubType(subType);
        return new TahoeSession(subType, Composition.Compose(list, new UniquePrefix("session", subType), childForm: false));
    }

    /// <summary>
    /// Builds a session identified by <c>Attribute("sessionid", id)</c>, the original's default (it draws a random
    /// uuid4; here the caller supplies the id).
    /// </summary>
    public static TahoeSession Create(string subType, Guid sessionId) =>
        Create(subType, [TahoeAttribute.Create("sessionid", sessionId.ToString("D"))]);

    /// <summary>A copy whose <c>_ref</c> also holds <paramref name="events"/>; the hash is unchanged.</summary>
    /// <exception cref="TahoeException">An instance is not an event, or none is given.</exception>
    public TahoeSession AddEvent(IEnumerable<TahoeInstance> events)
    {
        var hashes = EventHashes(events);
        var refs = new HashSet<InstanceHash>(Ref);
        var evs = new HashSet<InstanceHash>(Events);
        foreach (var h in hashes)
        {
            refs.Add(h);
            evs.Add(h);
        }

        return new TahoeSession(this, InstanceRules.Sorted(refs), InstanceRules.Sorted(evs));
    }

    /// <summary>A copy whose <c>_ref</c> no longer holds <paramref name="events"/>; the hash is unchanged.</summary>
    /// <exception cref="TahoeException">An instance is not an event, or none is given.</exception>
    public TahoeSession RemoveEvent(IEnumerable<TahoeInstance> events)
    {
        var hashes = EventHashes(events);
        var refs = new HashSet<InstanceHash>(Ref);
        var evs = new HashSet<InstanceHash>(Events);
        foreach (var h in hashes)
        {
            refs.Remove(h);
            evs.Remove(h);
        }

        return new TahoeSession(this, InstanceRules.Sorted(refs), InstanceRules.Sorted(evs));
    }

    internal static TahoeSession Restore(
        string subType,
        TahoeDict data,
        ImmutableArray<InstanceHash> cref,
        ImmutableArray<InstanceHash> refs,
        ImmutableArray<InstanceHash> events) =>
        new(new TahoeSession(subType, ComposedData.Restored(data, new UniquePrefix("session", subType), childForm: false, cref, refs)), refs, events);

    private static List<InstanceHash> EventHashes(IEnumerable<TahoeInstance> events)
    {
        if (events is null)
        {
            throw new TahoeException(TahoeErrorKind.TypeError, "events", "'events' must be a list of events, got None");
        }

        var hashes = new List<InstanceHash>();
        foreach (var e in events)
        {
            if (e is not TahoeEvent)
            {
                throw new TahoeException(
                    TahoeErrorKind.TypeError,
                    "events",
                    $"'events' must hold only events, got {(e is null ? "None" : $"{e.Itype} {e.Hash}")}");
            }

            hashes.Add(e.Hash);
        }

        if (hashes.Count == 0)
        {
            throw new TahoeException(TahoeErrorKind.ValueError, "events", "'events' cannot be empty");
        }

        return hashes;
    }

    private protected override TahoeDict BuildDocument() =>
        TahoeDict.From(
        [
            Entry("itype", Itype), Entry("data", Data), Entry("_cref", Cref), Entry("_ref", Ref), Entry("sub_type", SubType),
            Entry("_hash", Hash.Value),
        ]);
}
