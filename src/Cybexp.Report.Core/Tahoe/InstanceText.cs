namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// An instance's UTF-8 text, in one array: a prefix, <c>canonical(data)</c> (ASCII), and for an instance that can be
/// a child (attribute or object) the canonical text escaped twice, the form every parent embeds
/// (<c>{"sub_type": "[\"...\"]"}</c>), so that parents copy it instead of escaping it again. When the prefix is the
/// start of the unique text (<c>itype + sub_type</c>, plus orgid and timestamp for an event), prefix and canonical text
/// are the unique text, and <see cref="Hash"/> is its SHA-256; with <see cref="UniquePrefix.None"/> the prefix is
/// empty and nothing is hashed. Only child forms keep their bytes (<see cref="Utf8"/> is null otherwise): nothing
/// embeds an event's text, so it is hashed straight from the pooled buffer and rebuilt if ever asked for.
/// </summary>
/// <param name="Utf8">The bytes, or null when not kept; never modified once built.</param>
/// <param name="CanonicalStart">Where <c>canonical(data)</c> starts.</param>
/// <param name="CanonicalEnd">Where it ends; the escaped form, if kept, fills the rest.</param>
/// <param name="Encodable">False when the prefix held a lone surrogate, which UTF-8 cannot encode (Python raises).</param>
/// <param name="Hash">SHA-256 of prefix and canonical text when the prefix is a unique-text prefix and encodable.</param>
internal readonly record struct InstanceText(byte[]? Utf8, int CanonicalStart, int CanonicalEnd, bool Encodable, InstanceHash Hash)
{
    /// <summary>Prefix and <c>canonical(data)</c>: the unique text when the prefix is its start.</summary>
    public ReadOnlySpan<byte> PrefixAndCanonical => Utf8.AsSpan(0, CanonicalEnd);

    /// <summary><c>canonical(data)</c> as ASCII bytes.</summary>
    public ReadOnlySpan<byte> Canonical => Utf8.AsSpan(CanonicalStart, CanonicalEnd - CanonicalStart);

    /// <summary><c>canonical(data)</c> escaped twice, or empty when not kept (canonical text itself is never empty).</summary>
    public ReadOnlySpan<byte> EscapedTwice => Utf8.AsSpan(CanonicalEnd);

    /// <summary>
    /// <paramref name="prefix"/> then <c>canonical(data)</c>, hashed unless the prefix is <see cref="UniquePrefix.None"/>;
    /// kept, with its escaped-twice form, when <paramref name="childForm"/> (attributes and objects).
    /// </summary>
    public static InstanceText Of(UniquePrefix prefix, TahoeValue data, bool childForm) =>
        Build(prefix, data, childForm ? Keep.ChildForm : Keep.Nothing, hash: !prefix.IsNone);

    /// <summary>The text of an instance that did not keep it: <paramref name="prefix"/> and <c>canonical(data)</c>, not hashed.</summary>
    public static InstanceText Rebuild(UniquePrefix prefix, TahoeValue data) => Build(prefix, data, Keep.Text, hash: false);

    private static InstanceText Build(UniquePrefix prefix, TahoeValue data, Keep keep, bool hash)
    {
        ArgumentNullException.ThrowIfNull(data);
        var writer = CanonicalWriter.Rent();
        try
        {
            prefix.WriteTo(writer);
            var start = writer.Output.Length;
            writer.WriteCanonical(data);
            return writer.ToInstanceText(start, keep, hash);
        }
        finally
        {
            CanonicalWriter.Return(writer);
        }
    }
}

/// <summary>
/// The part of a unique text before <c>canonical(data)</c>: <c>itype + sub_type</c>, and for an event
/// <c>+ orgid + str(timestamp)</c>. Null parts are written as nothing (validation reports them later).
/// </summary>
internal readonly record struct UniquePrefix(string? Itype, string? SubType, string? Orgid = null, double? Timestamp = null)
{
    /// <summary>No prefix: the text is the canonical text alone (types whose unique text does not end with it).</summary>
    public static UniquePrefix None => default;

    /// <summary>True for <see cref="None"/>.</summary>
    public bool IsNone => Itype is null;

    /// <summary>An event's prefix: <c>"event" + sub_type + orgid + str(timestamp)</c>.</summary>
    public static UniquePrefix Event(string? subType, string? orgid, double timestamp) => new("event", subType, orgid ?? string.Empty, timestamp);

    /// <summary>Writes the prefix as UTF-8.</summary>
    public void WriteTo(CanonicalWriter writer)
    {
        writer.WriteUtf8(Itype);
        writer.WriteUtf8(SubType);
        writer.WriteUtf8(Orgid);
        if (Timestamp is { } ts)
        {
            writer.WriteFloatStr(ts);
        }
    }
}

/// <summary>What <see cref="CanonicalWriter.ToInstanceText"/> copies out of the pooled buffer.</summary>
internal enum Keep
{
    /// <summary>Nothing: the text is only hashed.</summary>
    Nothing,

    /// <summary>Prefix and canonical text.</summary>
    Text,

    /// <summary>Prefix, canonical text and its escaped-twice form (what parents embed).</summary>
    ChildForm,
}
