namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A TAHOE attribute: one scalar value (<c>data</c> int, float, str, bool or None) with a sub_type such as
/// <c>ipv4</c>. Document: <c>itype, data, sub_type, _hash</c>; unique text <c>"attribute" + sub_type + canonical(data)</c>.
/// </summary>
public sealed class TahoeAttribute : TahoeInstance
{
    private TahoeAttribute(string subType, TahoeValue data, InstanceText text)
        : base("attribute", subType, data, text)
    {
    }

    /// <summary>Builds an attribute; <paramref name="data"/> must be a scalar and fit in 64 bits when an int.</summary>
    /// <exception cref="TahoeException">The sub_type or the data is not valid.</exception>
    public static TahoeAttribute Create(string subType, TahoeValue data)
    {
        ArgumentNullException.ThrowIfNull(data);
        switch (data)
        {
            case TahoeList or TahoeDict:
                throw new TahoeException(
                    TahoeErrorKind.TypeError,
                    "data",
                    $"attribute 'data' must be an int, float, str, bool or None, got a {data.Kind.ToString().ToLowerInvariant()}");
            case TahoeInt { FitsInt64: false } big:
                // The stores (MongoDB in the original, ours too) keep 8-byte integers only.
                throw new TahoeException(
                    TahoeErrorKind.OverflowError,
                    "data",
                    $"attribute 'data' must fit in a signed 64-bit integer, got {big.Digits}");
        }

        InstanceRules.RequireSubType(subType);
        return new TahoeAttribute(subType, data, InstanceText.Of(new UniquePrefix("attribute", subType), data, childForm: true));
    }

    /// <summary>Builds an attribute from untyped input: <paramref name="subType"/> must be a str.</summary>
    public static TahoeAttribute Create(TahoeValue subType, TahoeValue data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var text = InstanceRules.RequireString(subType, "sub_type");
        return Create(text, data);
    }

    /// <summary>A str attribute.</summary>
    public static TahoeAttribute Create(string subType, string data) =>
        Create(subType, TahoeValue.String(InstanceRules.RequireString(data, "data")));

    private protected override TahoeDict BuildDocument() =>
        TahoeDict.From([Entry("itype", Itype), Entry("data", Data), Entry("sub_type", SubType), Entry("_hash", Hash.Value)]);
}
