using System.Collections.Immutable;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A TAHOE raw document: data as an organisation uploaded it. Document: <c>itype, data, orgid, timezone, sub_type,
/// _hash</c> and, once refs are added, <c>_ref</c>. Unique text <c>"raw" + sub_type + canonical(data)</c>; orgid,
/// timezone and refs are not hashed.
/// </summary>
public sealed class TahoeRaw : TahoeInstance
{
    private TahoeRaw(string subType, TahoeValue data, InstanceText text, string orgid, string timezone, ImmutableArray<string>? refs)
        : base("raw", subType, data, text)
    {
        Orgid = orgid;
        Timezone = timezone;
        Ref = refs;
    }

    /// <summary>The uploading organisation's hash.</summary>
    public string Orgid { get; }

    /// <summary>The time zone of the raw data's local times (<c>UTC</c> by default).</summary>
    public string Timezone { get; }

    /// <summary>
    /// <c>_ref</c>, sorted ordinally, or null while no ref was added (the original adds the field only then). The
    /// original accepts any strings here, so they are kept as strings.
    /// </summary>
    public ImmutableArray<string>? Ref { get; }

    /// <summary>Builds a raw instance around already parsed data.</summary>
    public static TahoeRaw Create(string subType, TahoeValue data, string orgid, string timezone = "UTC")
    {
        ArgumentNullException.ThrowIfNull(data);
        InstanceRules.RequireString(orgid, "orgid");
        InstanceRules.RequireString(timezone, "timezone");
        InstanceRules.RequireSubType(subType);
        return new TahoeRaw(subType, data, InstanceText.Of(new UniquePrefix("raw", subType), data, childForm: false), orgid, timezone, null);
    }

    /// <summary>Builds a raw instance from JSON text, which is parsed as Python's <c>json.loads</c> would.</summary>
    /// <exception cref="TahoeException">The text is not JSON, or another argument is invalid.</exception>
    public static TahoeRaw CreateFromJson(string subType, string json, string orgid, string timezone = "UTC")
    {
        InstanceRules.RequireString(json, "data");
        if (!PythonJson.TryParse(json, DuplicateKeys.LastWins, out var data, out var error))
        {
            throw new TahoeException(TahoeErrorKind.ValueError, "data", $"raw 'data' is not valid JSON: {error}");
        }

        return Create(subType, data, orgid, timezone);
    }

    /// <summary>The original's <c>add_ref</c>: a copy whose <c>_ref</c> also holds <paramref name="refs"/>; the hash is unchanged.</summary>
    public TahoeRaw AddRef(IEnumerable<string> refs)
    {
        ArgumentNullException.ThrowIfNull(refs);
        var set = new HashSet<string>(Ref ?? [], StringComparer.Ordinal);
        foreach (var r in refs)
        {
            set.Add(InstanceRules.RequireString(r, "_ref"));
        }

        return new TahoeRaw(SubType, Data, InstanceText.Of(new UniquePrefix("raw", SubType), Data, childForm: false), Orgid, Timezone, Order(set));
    }

    internal static TahoeRaw Restore(string subType, TahoeValue data, string orgid, string timezone, IEnumerable<string>? refs) =>
        new(subType, data, InstanceText.Of(new UniquePrefix("raw", subType), data, childForm: false), orgid, timezone, refs is null ? null : Order(new HashSet<string>(refs, StringComparer.Ordinal)));

    private static ImmutableArray<string> Order(HashSet<string> set)
    {
        var array = set.ToArray();
        Array.Sort(array, StringComparer.Ordinal);
        return ImmutableArray.Create(array);
    }

    private protected override TahoeDict BuildDocument()
    {
        var entries = new List<KeyValuePair<string, TahoeValue>>
        {
            Entry("itype", Itype), Entry("data", Data), Entry("orgid", Orgid), Entry("timezone", Timezone), Entry("sub_type", SubType),
            Entry("_hash", Hash.Value),
        };
        if (Ref is { } refs)
        {
            entries.Add(Entry("_ref", TahoeValue.List(refs.Select(TahoeValue.String))));
        }

        return TahoeDict.From(entries);
    }
}
