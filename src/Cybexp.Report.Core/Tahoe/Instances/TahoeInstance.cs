using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A TAHOE instance: immutable, identified by <see cref="Hash"/> = SHA-256 of <see cref="Unique"/>. Every type is
/// built from its parts exactly as the original Python builds it, and <see cref="Document"/> is the stored form with
/// keys in the original's insertion order and every hash list sorted ascending.
/// </summary>
public abstract class TahoeInstance
{
    // The instance's UTF-8 text (see InstanceText): kept by attributes and objects, whose parents embed it; for the
    // others (null Utf8) rebuilt from Data on first use. Queries, users and orgs keep canonical(data) alone and have
    // _unique set from the start, their unique text not ending with it.
    private readonly InstanceText _text;
    private StrongBox<InstanceText>? _rebuilt;
    private string? _unique;
    private string? _canonicalData;
    private TahoeDict? _document;

    // The unique text is the text's prefix and canonical(data), already hashed.
    private protected TahoeInstance(string itype, string subType, TahoeValue data, InstanceText text)
    {
        if (!text.Encodable)
        {
            throw InstanceRules.LoneSurrogate(itype, null);
        }

        Itype = itype;
        SubType = subType;
        Data = data;
        _text = text;
        Hash = text.Hash.Value is null ? throw new InvalidOperationException("the instance text was built without its hash") : text.Hash;
    }

    // The unique text is given; canonical holds canonical(data) alone.
    private protected TahoeInstance(string itype, string subType, TahoeValue data, InstanceText canonical, string unique)
    {
        Itype = itype;
        SubType = subType;
        Data = data;
        _text = canonical;
        _unique = unique;
        Hash = InstanceRules.HashOf(unique, itype);
    }

    private protected TahoeInstance(TahoeInstance source)
    {
        Itype = source.Itype;
        SubType = source.SubType;
        Data = source.Data;
        _text = source._text;
        _rebuilt = source._rebuilt;
        _unique = source._unique;
        _canonicalData = source._canonicalData;
        Hash = source.Hash;
    }

    /// <summary>The itype: attribute, object, event, session, raw or report.</summary>
    public string Itype { get; }

    /// <summary>The sub_type, a Python identifier such as <c>ipv4</c>.</summary>
    public string SubType { get; }

    /// <summary>The <c>data</c> field.</summary>
    public TahoeValue Data { get; }

    /// <summary><c>canonical(data)</c>. Parents use the UTF-8 form kept with the instance; this string is made on first use.</summary>
    public string CanonicalData => _canonicalData ??= Encoding.Latin1.GetString(CanonicalText.Canonical);

    /// <summary>The text whose SHA-256 is <see cref="Hash"/> (the original's <c>_unique</c>); made on first use.</summary>
    public string Unique => _unique ??= Encoding.UTF8.GetString(CanonicalText.PrefixAndCanonical);

    /// <summary>The <c>_hash</c>.</summary>
    public InstanceHash Hash { get; }

    /// <summary>What a parent adds to its <c>_ref</c> besides this instance: a composite's own <c>_ref</c>, else nothing.</summary>
    internal ImmutableArray<InstanceHash> RefHashes { get; private protected init; } = [];

    /// <summary>The instance's UTF-8 text: <c>canonical(data)</c> with its prefix (and escaped form when kept).</summary>
    internal InstanceText CanonicalText =>
        _text.Utf8 is not null ? _text : (_rebuilt ??= new(InstanceText.Rebuild(TextPrefix, Data))).Value;

    /// <summary>The unique-text prefix this instance's text starts with (used to rebuild a text not kept).</summary>
    private protected virtual UniquePrefix TextPrefix => new(Itype, SubType);

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
    // The unique text is the composed text (prefix + canonical(data)).
    private protected TahoeComposite(string itype, string subType, ComposedData composed)
        : base(itype, subType, composed.Data, composed.Text)
    {
        Cref = composed.Cref;
        RefHashes = composed.Ref;
    }

    // The unique text is given; the composed text is canonical(data) alone.
    private protected TahoeComposite(string itype, string subType, ComposedData composed, string unique)
        : base(itype, subType, composed.Data, composed.Text, unique)
    {
        Cref = composed.Cref;
        RefHashes = composed.Ref;
    }

    private protected TahoeComposite(TahoeComposite source, ImmutableArray<InstanceHash> cref, ImmutableArray<InstanceHash> refs)
        : base(source)
    {
        Cref = cref;
        RefHashes = refs;
    }

    /// <summary>The <c>data</c> dict: each child's data under its sub_type.</summary>
    public TahoeDict DataDict => (TahoeDict)Data;

    /// <summary><c>_cref</c>: the direct children, sorted.</summary>
    public ImmutableArray<InstanceHash> Cref { get; }

    /// <summary><c>_ref</c>: the children and all their descendants, sorted.</summary>
    public ImmutableArray<InstanceHash> Ref => RefHashes;
}
