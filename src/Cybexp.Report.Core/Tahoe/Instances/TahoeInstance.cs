using System.Collections.Immutable;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A TAHOE instance: immutable, identified by <see cref="Hash"/> = SHA-256 of <see cref="Unique"/>. Every type is
/// built from its parts exactly as the original Python builds it, and <see cref="Document"/> is the stored form with
/// keys in the original's insertion order and every hash list sorted ascending.
/// </summary>
public abstract class TahoeInstance
{
    private TahoeDict? _document;

    private protected TahoeInstance(string itype, string subType, TahoeValue data, string canonicalData, string unique)
    {
        Itype = itype;
        SubType = subType;
        Data = data;
        CanonicalData = canonicalData;
        Unique = unique;
        Hash = InstanceRules.HashOf(unique, itype);
    }

    private protected TahoeInstance(TahoeInstance source)
    {
        Itype = source.Itype;
        SubType = source.SubType;
        Data = source.Data;
        CanonicalData = source.CanonicalData;
        Unique = source.Unique;
        Hash = source.Hash;
    }

    /// <summary>The itype: attribute, object, event, session, raw or report.</summary>
    public string Itype { get; }

    /// <summary>The sub_type, a Python identifier such as <c>ipv4</c>.</summary>
    public string SubType { get; }

    /// <summary>The <c>data</c> field.</summary>
    public TahoeValue Data { get; }

    /// <summary><c>canonical(data)</c>, kept so that parents can be hashed without re-walking this instance.</summary>
    public string CanonicalData { get; }

    /// <summary>The text whose SHA-256 is <see cref="Hash"/> (the original's <c>_unique</c>).</summary>
    public string Unique { get; }

    /// <summary>The <c>_hash</c>.</summary>
    public InstanceHash Hash { get; }

    /// <summary>The stored document, keys in the original's order, hash lists sorted.</summary>
    public TahoeDict Document => _document ??= BuildDocument();

    /// <summary>Parses a stored document back into the matching instance type, validating its shape and its <c>_hash</c>.</summary>
    public static TahoeParseResult FromDocument(TahoeDict document) => InstanceDocumentReader.Read(document);

    /// <inheritdoc />
    public override string ToString() => $"{Itype}/{SubType} {Hash}";

    private protected abstract TahoeDict BuildDocument();

    private protected static KeyValuePair<string, TahoeValue> Entry(string key, TahoeValue value) => new(key, value);

    private protected static KeyValuePair<string, TahoeValue> Entry(string key, string value) => new(key, TahoeValue.String(value));

    private protected static KeyValuePair<string, TahoeValue> Entry(string key, ImmutableArray<InstanceHash> hashes) =>
        new(key, InstanceRules.HashList(hashes));
}

/// <summary>An instance with children: object, event, session and the object kinds (query, user, org).</summary>
public abstract class TahoeComposite : TahoeInstance
{
    private protected TahoeComposite(
        string itype,
        string subType,
        ComposedData composed,
        string unique)
        : base(itype, subType, composed.Data, composed.Canonical, unique)
    {
        Cref = composed.Cref;
        Ref = composed.Ref;
    }

    private protected TahoeComposite(TahoeComposite source, ImmutableArray<InstanceHash> cref, ImmutableArray<InstanceHash> refs)
        : base(source)
    {
        Cref = cref;
        Ref = refs;
    }

    /// <summary>The <c>data</c> dict: each child's data under its sub_type.</summary>
    public TahoeDict DataDict => (TahoeDict)Data;

    /// <summary><c>_cref</c>: the direct children, sorted.</summary>
    public ImmutableArray<InstanceHash> Cref { get; }

    /// <summary><c>_ref</c>: the children and all their descendants, sorted.</summary>
    public ImmutableArray<InstanceHash> Ref { get; }
}
