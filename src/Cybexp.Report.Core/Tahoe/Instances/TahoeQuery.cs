using System.Collections.Immutable;
using System.Globalization;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// A report query (TDQL): an object with sub_type <c>query</c> made of eight attributes (qtype, qhash, qdata, userid,
/// timestamp, encrypted, status, report_id) and a <c>socket</c> object (host, port, nonce). Its hash covers only
/// qtype, qhash, userid and the clock hour of the timestamp, so <see cref="WithStatus"/>, <see cref="WithReportId"/>
/// and <see cref="WithSocket"/> keep it; they swap the changed child in <c>_cref</c>/<c>_ref</c>, and the new child
/// instances (<see cref="Descendants"/>) must be stored next to the query.
/// </summary>
public sealed class TahoeQuery : TahoeComposite
{
    /// <summary>The statuses a query may be moved to (it starts as <c>invalid</c>).</summary>
    public static readonly ImmutableArray<string> Statuses = ["wait", "processing", "ready", "failed"];

    private TahoeQuery(QueryParts parts, ComposedData composed, ImmutableArray<TahoeInstance> descendants)
        : base("object", "query", composed, UniqueOf(parts))
    {
        Parts = parts;
        Descendants = descendants;
    }

    /// <summary>The query type, e.g. <c>count</c>.</summary>
    public string Qtype => Parts.Qtype;

    /// <summary>The stored query data: Python's bytes literal of the (encrypted) canonical query.</summary>
    public string Qdata => Parts.Qdata;

    /// <summary>SHA-256 hex of the canonical query data.</summary>
    public string Qhash => Parts.Qhash;

    /// <summary>The requesting user's hash.</summary>
    public string Userid => Parts.Userid;

    /// <summary>When the query was made (Unix seconds, a float).</summary>
    public double Timestamp => Parts.Timestamp;

    /// <summary>Whether <see cref="Qdata"/> is encrypted.</summary>
    public bool Encrypted => Parts.Encrypted;

    /// <summary><c>invalid</c>, <c>wait</c>, <c>processing</c>, <c>ready</c> or <c>failed</c>.</summary>
    public string Status => Parts.Status;

    /// <summary>The report's hash once made, else empty.</summary>
    public string ReportId => Parts.ReportId;

    /// <summary>The host to notify.</summary>
    public string Host => Parts.Host;

    /// <summary>The port to notify.</summary>
    public long Port => Parts.Port;

    /// <summary>The nonce to send when the report is ready.</summary>
    public string Nonce => Parts.Nonce;

    /// <summary>
    /// The child instances that must exist in the same store, in the order the original creates them: the eight
    /// attributes, then host, port, nonce and the socket object.
    /// </summary>
    public ImmutableArray<TahoeInstance> Descendants { get; }

    private QueryParts Parts { get; }

    /// <summary>Builds a new query in status <c>invalid</c> with an empty report id.</summary>
    public static TahoeQuery Create(
        string qtype,
        string qdata,
        string qhash,
        string userid,
        double timestamp,
        bool encrypted = true,
        string host = "localhost",
        long port = 0,
        string nonce = "")
    {
        if (!double.IsFinite(timestamp))
        {
            throw new TahoeException(TahoeErrorKind.ValueError, "timestamp", $"query 'timestamp' must be a finite number, got {PythonText.FloatRepr(timestamp)}");
        }

        return Build(new QueryParts(
            InstanceRules.RequireString(qtype, "qtype"),
            InstanceRules.RequireString(qdata, "qdata"),
            InstanceRules.RequireString(qhash, "qhash"),
            InstanceRules.RequireString(userid, "userid"),
            timestamp,
            encrypted,
            "invalid",
            string.Empty,
            InstanceRules.RequireString(host, "host"),
            port,
            InstanceRules.RequireString(nonce, "nonce")));
    }

    /// <summary>A copy with another status (wait, processing, ready or failed); the hash is unchanged.</summary>
    public TahoeQuery WithStatus(string status)
    {
        if (status is null || !Statuses.Contains(status))
        {
            throw new TahoeException(TahoeErrorKind.ValueError, "status", $"'status' must be one of wait, processing, ready, failed, got '{status}'");
        }

        return Build(Parts with { Status = status });
    }

    /// <summary>A copy with the report id set; the hash is unchanged.</summary>
    public TahoeQuery WithReportId(string reportId) =>
        Build(Parts with { ReportId = InstanceRules.RequireString(reportId, "report_id") });

    /// <summary>A copy with another notification socket; the hash is unchanged.</summary>
    public TahoeQuery WithSocket(string host, long port, string nonce) =>
        Build(Parts with
        {
            Host = InstanceRules.RequireString(host, "host"),
            Port = port,
            Nonce = InstanceRules.RequireString(nonce, "nonce"),
        });

    internal static TahoeQuery Restore(QueryParts parts) => Build(parts);

    private static TahoeQuery Build(QueryParts p)
    {
        var host = TahoeAttribute.Create("host", p.Host);
        var port = TahoeAttribute.Create("port", TahoeValue.Int(p.Port));
        var nonce = TahoeAttribute.Create("nonce", p.Nonce);
        var socket = TahoeObject.Create("socket", host, port, nonce);
        TahoeInstance[] children =
        [
            TahoeAttribute.Create("qtype", p.Qtype),
            TahoeAttribute.Create("qhash", p.Qhash),
            TahoeAttribute.Create("qdata", p.Qdata),
            TahoeAttribute.Create("userid", p.Userid),
            TahoeAttribute.Create("timestamp", TahoeValue.Float(p.Timestamp)),
            TahoeAttribute.Create("encrypted", TahoeValue.Bool(p.Encrypted)),
            TahoeAttribute.Create("status", p.Status),
            TahoeAttribute.Create("report_id", p.ReportId),
            socket,
        ];
        ImmutableArray<TahoeInstance> descendants = [.. children.AsSpan(0, 8), host, port, nonce, socket];
        return new TahoeQuery(p, Composition.Compose(children, UniquePrefix.None, childForm: true), descendants);
    }

    private static string UniqueOf(QueryParts p) =>
        string.Concat("objectquery", p.Qtype, p.Qhash, p.Userid, UniqueText.HourBucket(p.Timestamp).ToString(CultureInfo.InvariantCulture));

    private protected override TahoeDict BuildDocument() =>
        TahoeDict.From(
        [
            Entry("itype", Itype), Entry("data", Data), Entry("_cref", Cref), Entry("_ref", Ref), Entry("sub_type", SubType),
            Entry("_hash", Hash.Value),
        ]);
}

/// <summary>The fields a query is built from.</summary>
internal sealed record QueryParts(
    string Qtype,
    string Qdata,
    string Qhash,
    string Userid,
    double Timestamp,
    bool Encrypted,
    string Status,
    string ReportId,
    string Host,
    long Port,
    string Nonce);
