using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Queries;

public class TdqlDocumentsTests
{
    private const string User1 = "623dd0070664fea4f77d7b6c9f108b5370cbae6b2b6c83dc5279a750be3609b0";
    private const string QHash = "db369e7e1493485631e81e6671a0002d262488069bc186fc973c7221306f0067";

    private static QueryRecord Record(string status, string? report = null, NotifySocket? notify = null) =>
        new(7, "count", "b'{\"data\": \"\\\\\"1.1.1.1\\\\\"\", \"sub_type\": \"\\\\\"ipv4\\\\\"\"}'", false, User1, QHash, status, 1, 1627580000.5, null, notify, report, null, null);

    [Fact]
    public void FromRecord_HasTheOriginalsHash_AndStatus()
    {
        var tdql = TdqlDocuments.FromRecord(Record("wait"));
        Assert.Equal("e8d06955974c343824e6291956c73da1ab9da43d28779a63f7348e04cce595a6", tdql.Hash.Value);
        Assert.Equal("wait", tdql.Status);
        var doc = tdql.Document;
        Assert.Equal(TahoeValue.String("query"), doc["sub_type"]);
        Assert.Equal(TahoeValue.List(TahoeValue.String("wait")), doc["data"]!.AsDict["status"]);
        Assert.Contains(InstanceHash.Parse("64d6f946a875d0fc05774ef1e1fe4eaa4b2f1700c71df9a1bb33b0c0cfcbad89"), tdql.Cref);
    }

    [Fact]
    public void FromRecord_OfAnEndedQuery_CarriesTheReportId()
    {
        var report = InstanceHash.Of("reportcount1").Value;
        var tdql = TdqlDocuments.FromRecord(Record("ready", report, new NotifySocket("0.0.0.0", 40000, "abcd")));
        Assert.Equal(report, tdql.ReportId);
        Assert.Equal("ready", tdql.Status);
        Assert.Equal(40000, tdql.Port);
        Assert.True(TahoeInstance.FromDocument(tdql.Document).Ok);
    }

    [Fact]
    public void ToSubmission_RoundTripsTheQueryFields()
    {
        var record = Record("wait", notify: new NotifySocket("localhost", 5001, "00ff"));
        var submission = TdqlDocuments.ToSubmission(TdqlDocuments.FromRecord(record));
        Assert.Equal(new QuerySubmission(record.QType, record.QData, record.Encrypted, record.UserId, record.QHash, record.Notify), submission);
        var quiet = TdqlDocuments.ToSubmission(TahoeQuery.Create("count", "b''", QHash, User1, 1627580000.5, encrypted: true));
        Assert.Null(quiet.Notify);
        Assert.True(quiet.Encrypted);
    }
}
