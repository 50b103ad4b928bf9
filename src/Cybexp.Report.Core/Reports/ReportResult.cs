using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Reports;

/// <summary>What an engine computed: the report payload and its page numbers (<c>next_page</c> null on the last page).</summary>
public sealed record ReportResult(TahoeValue Data, int CurrentPage, int? NextPage)
{
    /// <summary>A single-page result.</summary>
    public static ReportResult Single(TahoeValue data) => new(data, 1, null);
}

/// <summary>A report the user asked for cannot be computed; the message is shown to the user.</summary>
public sealed class ReportFailedException(string message) : Exception(message);

/// <summary>Builds the stored report document (<c>itype: report</c>), with the original's <c>_hash</c> rule.</summary>
public static class ReportDocument
{
    /// <summary>
    /// The report document: <c>{"itype":"report","sub_type":qtype,"userid","timestamp","current_page","next_page","data","_hash","status"}</c>;
    /// <c>_hash</c> is SHA-256 of <c>"report" + qtype + canonical(data)</c> as in the original.
    /// </summary>
    public static TahoeDict Create(string qtype, string userId, double timestamp, string status, ReportResult result)
    {
        var hash = HashOf(qtype, result.Data);
        return TahoeDict.From([
            new("itype", TahoeValue.String("report")),
            new("sub_type", TahoeValue.String(qtype)),
            new("userid", TahoeValue.String(userId)),
            new("timestamp", TahoeValue.Float(timestamp)),
            new("current_page", TahoeValue.Int(result.CurrentPage)),
            new("next_page", result.NextPage is { } n ? TahoeValue.Int(n) : TahoeValue.Null),
            new("data", result.Data),
            new("_hash", TahoeValue.String(hash.Value)),
            new("status", TahoeValue.String(status)),
        ]);
    }

    /// <summary>The report hash rule of the original.</summary>
    public static InstanceHash HashOf(string qtype, TahoeValue data) => InstanceHash.Of("report" + qtype + Canonical.Of(data));
}

/// <summary>The hash an attribute has in the archive, computed without storing it (the original inserted it).</summary>
public static class AttributeHash
{
    /// <summary>SHA-256 of <c>"attribute" + sub_type + canonical(data)</c>.</summary>
    public static InstanceHash Of(string subType, TahoeValue data) => InstanceHash.Of("attribute" + subType + Canonical.Of(data));
}
