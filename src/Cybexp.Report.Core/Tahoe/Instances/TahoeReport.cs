namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A stored report. Document: <c>itype, userid, timestamp, current_page, next_page, data, sub_type, _hash</c> with
/// sub_type the query type; unique text <c>"report" + qtype + canonical(data)</c>, so identical payloads share one
/// hash whoever asked and whenever.
/// </summary>
public sealed class TahoeReport : TahoeInstance
{
    private TahoeReport(string qtype, TahoeValue data, InstanceText text, string userid, TahoeValue timestamp, long currentPage, long nextPage)
        : base("report", qtype, data, text)
    {
        Userid = userid;
        Timestamp = timestamp;
        CurrentPage = currentPage;
        NextPage = nextPage;
    }

    /// <summary>The requesting user's hash.</summary>
    public string Userid { get; }

    /// <summary>When the report was made: a float of Unix seconds (an int is kept as given when read from a document).</summary>
    public TahoeValue Timestamp { get; }

    /// <summary>The page this report holds.</summary>
    public long CurrentPage { get; }

    /// <summary>The page to ask for next (1 when there is none).</summary>
    public long NextPage { get; }

    /// <summary>Builds a report; <paramref name="qtype"/> becomes the sub_type and must be a Python identifier.</summary>
    public static TahoeReport Create(string qtype, string userid, double timestamp, TahoeValue data, long currentPage, long nextPage)
    {
        ArgumentNullException.ThrowIfNull(data);
        InstanceRules.RequireString(userid, "userid");
        InstanceRules.RequireSubType(qtype, "qtype");
        return new TahoeReport(qtype, data, InstanceText.Of(new UniquePrefix("report", qtype), data, childForm: false), userid, TahoeValue.Float(timestamp), currentPage, nextPage);
    }

    internal static TahoeReport Restore(string qtype, TahoeValue data, string userid, TahoeValue timestamp, long currentPage, long nextPage) =>
        new(qtype, data, InstanceText.Of(new UniquePrefix("report", qtype), data, childForm: false), userid, timestamp, currentPage, nextPage);

    private protected override TahoeDict BuildDocument() =>
        TahoeDict.From(
        [
            Entry("itype", Itype), Entry("userid", Userid), Entry("timestamp", Timestamp), Entry("current_page", TahoeValue.Int(CurrentPage)),
            Entry("next_page", TahoeValue.Int(NextPage)), Entry("data", Data), Entry("sub_type", SubType), Entry("_hash", Hash.Value),
        ]);
}
