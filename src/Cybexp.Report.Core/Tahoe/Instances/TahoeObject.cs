using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A TAHOE object: a group of attributes and objects. Document: <c>itype, data, _cref, _ref, sub_type, _hash</c>;
/// unique text <c>"object" + sub_type + canonical(data)</c>.
/// </summary>
public sealed class TahoeObject : TahoeComposite
{
    private TahoeObject(string subType, ComposedData composed)
        : base("object", subType, composed)
    {
    }

    /// <summary>
    /// Builds an object from its children (attributes or objects). A child passed twice by reference counts once;
    /// two equal but distinct instances both contribute their data, as in the original.
    /// </summary>
    /// <exception cref="TahoeException">A child is not an attribute or object, there are none, or the sub_type is invalid.</exception>
    public static TahoeObject Create(string subType, IEnumerable<TahoeInstance> children)
    {
        var list = Composition.ChildrenToCompose(children, "children");
        InstanceRules.RequireSubType(subType);
        return new TahoeObject(subType, Composition.Compose(list, Prefix(subType), childForm: true));
    }

    /// <summary>Builds an object from its children.</summary>
    public static TahoeObject Create(string subType, params TahoeInstance[] children) =>
        Create(subType, (IEnumerable<TahoeInstance>)children);

    /// <summary>
    /// The original's <c>add_instance</c>: a new object (new data and hash) with <paramref name="add"/> as extra
    /// children. <paramref name="storedChildren"/> are the stored instances of this object's <see cref="TahoeComposite.Cref"/>;
    /// a child hash without one is dropped, as in the original. Parents are not touched: re-editing them is the store's job.
    /// </summary>
    public TahoeObject AddInstance(IEnumerable<TahoeInstance> add, IEnumerable<TahoeInstance> storedChildren) =>
        Edit(add, null, storedChildren);

    /// <summary>The original's <c>remove_instance</c>; see <see cref="AddInstance"/>.</summary>
    public TahoeObject RemoveInstance(IEnumerable<TahoeInstance> remove, IEnumerable<TahoeInstance> storedChildren) =>
        Edit(null, remove, storedChildren);

    /// <summary>The original's <c>edit</c> / <c>replace_instance</c>: add and remove children in one step.</summary>
    public TahoeObject Edit(IEnumerable<TahoeInstance>? add, IEnumerable<TahoeInstance>? remove, IEnumerable<TahoeInstance> storedChildren) =>
        new(SubType, Composition.Compose(CollectionsMarshal.AsSpan(Composition.Edit(Cref, add, remove, storedChildren)), Prefix(SubType), childForm: true));

    internal static TahoeObject Restore(string subType, TahoeDict data, ImmutableArray<InstanceHash> cref, ImmutableArray<InstanceHash> refs) =>
        new(subType, ComposedData.Restored(data, Prefix(subType), childForm: true, cref, refs));

    private static UniquePrefix Prefix(string subType) => new("object", subType);

    private protected override TahoeDict BuildDocument() =>
        TahoeDict.From(
        [
            Entry("itype", Itype), Entry("data", Data), Entry("_cref", Cref), Entry("_ref", Ref), Entry("sub_type", SubType),
            Entry("_hash", Hash.Value),
        ]);
}
