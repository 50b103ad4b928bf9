using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Queries;

public class QueryValidatorTests
{
    private static QueryValidation V(string qtype, string json) => QueryValidator.Validate(qtype, PythonJson.Parse(json));

    [Fact]
    public void Defaults_AreTheOriginals()
    {
        var q = V("related", """{"sub_type":"ip","data":"1.1.1.1"}""").Query!;
        Assert.Equal("ipv4", q.SubType);
        Assert.Equal(1, q.Level);
        Assert.Equal(1, q.Page);
        Assert.True(q.Summary);
        Assert.False(q.SummaryGraph);
        Assert.Equal("all", q.ReturnType);
        Assert.Null(q.Category);
        Assert.Equal(EventContext.All, q.Context);
    }

    [Theory]
    [InlineData("count", """{"sub_type":"ipv4","data":"1.1.1.1","level":5}""", "'level' must be an integer from 1 to 3, got 5")]
    [InlineData("related", """{"sub_type":"ipv4","data":"1.1.1.1","level":2.0}""", "'level' must be an integer from 1 to 3, got 2.0")]
    [InlineData("related", """{"sub_type":"ipv4","data":"1.1.1.1","page":0}""", "'page' must be an integer of at least 1, got 0")]
    [InlineData("count", """{"sub_type":"ipv4"}""", "'data' is required")]
    [InlineData("related", """{"data":"1.1.1.1"}""", "'sub_type' is required")]
    [InlineData("count", """{"sub_type":"mac","data":"x"}""", "'sub_type' must be one of")]
    [InlineData("count", """{"sub_type":"ipv4","data":[1,2]}""", "'data' must be a string, number, boolean or null")]
    [InlineData("count", """{"sub_type":"ipv4","data":"x","foo":1}""", "unknown field 'foo'")]
    [InlineData("count", """{"sub_type":"ipv4","data":"x","category":"evil"}""", "'category' must be one of all, benign, malicious, unknown")]
    [InlineData("related", """{"sub_type":"ipv4","data":"x","return_type":"raw"}""", "'return_type' must be one of")]
    [InlineData("threatrank", """{"_hash":"xyz"}""", "'_hash' must be 64 hexadecimal digits")]
    [InlineData("threatrank", """{"_hash":"0000000000000000000000000000000000000000000000000000000000000000","decay":0}""", "'decay' must be a number from 0.00001 to 1, got 0")]
    [InlineData("threatrank", """{"_hash":"0000000000000000000000000000000000000000000000000000000000000000","decay":2}""", "'decay' must be a number from 0.00001 to 1, got 2")]
    [InlineData("threatrank", """{"last":"30 d","top":1000000}""", "'top' must be an integer from 1 to 1000, got 1000000")]
    [InlineData("threatrank", """{}""", "needs '_hash'")]
    [InlineData("threatrank", """{"_hash":"0000000000000000000000000000000000000000000000000000000000000000","max_hops":4}""", "'max_hops' must be an integer from 1 to 3")]
    [InlineData("count", """{"sub_type":"ipv4","data":"x","interval":"2h"}""", "'interval' must be one of 1h, 6h, 1d, 7d, 30d")]
    [InlineData("related", """{"sub_type":"ipv4","data":"x","interval":"1h"}""", "'interval' applies to count queries only")]
    [InlineData("foo", """{"sub_type":"ipv4","data":"x"}""", "'qtype' must be one of count, related, threatrank")]
    [InlineData("count", """{"sub_type":"ipv4","data":"x","summary":"yes"}""", "'summary' must be true or false")]
    [InlineData("count", """{"sub_type":"ipv4","data":"x","from":true}""", "'from' must be a date text or epoch seconds")]
    public void BadQueries_AreRejected_WithAMessageNamingTheField(string qtype, string json, string expected)
    {
        var v = V(qtype, json);
        Assert.False(v.IsValid);
        Assert.Contains(expected, v.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void NonObjectQueryData_IsRejected()
    {
        var v = QueryValidator.Validate("count", TahoeValue.List());
        Assert.Contains("must be a JSON object", v.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void FromAndTo_AcceptEpochNumbers()
    {
        var q = V("count", """{"sub_type":"ipv4","data":"x","from":100,"to":1.5e9}""").Query!;
        Assert.Equal("100", q.From);
        Assert.Equal("1500000000.0", q.To);
    }

    [Fact]
    public void Extensions_AreParsed()
    {
        var q = V("threatrank", """{"_hash":"ABCDEF0000000000000000000000000000000000000000000000000000000000","decay":0.5,"max_hops":2,"explain":true}""").Query!;
        Assert.Equal("abcdef0000000000000000000000000000000000000000000000000000000000", q.Hash!.Value.Value);
        Assert.Equal(0.5, q.Decay);
        Assert.Equal(2, q.MaxHops);
        Assert.True(q.Explain);
        var c = V("count", """{"sub_type":"ipv4","data":"x","interval":"6h"}""").Query!;
        Assert.Equal(6 * 3600, c.IntervalSeconds);
    }
}

public class QueryDataDecodingTests
{
    [Fact]
    public void DeeplyNestedQueryData_FailsWithAClearMessage_InBoundedTime()
    {
        var deep = new string('[', 100_000) + new string(']', 100_000);
        Assert.False(PythonJson.TryParse(deep, DuplicateKeys.Reject, out _, out var error));
        Assert.Contains("nested deeper than", error, StringComparison.Ordinal);
        var failure = Assert.Throws<Cybexp.Report.Core.Reports.ReportFailedException>(() =>
            Cybexp.Report.Core.Reports.ReportRunner.PrepareWithoutStore(new Cybexp.Report.Core.Reports.QueryInput("count", deep, false, "u"), null, 1_700_000_000));
        Assert.Contains("must be a JSON object", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EncryptedQueryData_WithoutAKey_Fails_SayingSo()
    {
        var failure = Assert.Throws<Cybexp.Report.Core.Reports.ReportFailedException>(() =>
            Cybexp.Report.Core.Reports.ReportRunner.PrepareWithoutStore(new Cybexp.Report.Core.Reports.QueryInput("count", "AAAA", true, "u"), null, 1_700_000_000));
        Assert.Contains("no private key", failure.Message, StringComparison.Ordinal);
    }
}
