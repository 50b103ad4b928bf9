using System.Text.Json;
using Cybexp.Report.Core.Reports.ThreatRank;

namespace Cybexp.Report.Core.Tests.ThreatRank;

/// <summary>Every case of vectors/threatrank.json over the datasets of vectors/reports.json.</summary>
public sealed class ThreatRankVectorTests
{
    private static readonly Lazy<JsonDocument> Reports = new(() => JsonDocument.Parse(File.ReadAllText(Vectors.Path("reports.json"))));
    private static readonly Lazy<JsonDocument> Cases = new(() => JsonDocument.Parse(File.ReadAllText(Vectors.Path("threatrank.json"))));

    public static IEnumerable<object[]> CaseIds()
    {
        var index = 0;
        foreach (var c in Cases.Value.RootElement.GetProperty("cases").EnumerateArray())
        {
            yield return [index++, $"{c.GetProperty("dataset").GetString()}/{c.GetProperty("user").GetString()}"];
        }
    }

    [Fact]
    public void Vectors_CoverEveryCase()
    {
        Assert.Equal(912, CaseIds().Count());
        Assert.Equal(1625097600.0, Cases.Value.RootElement.GetProperty("format").GetProperty("now").GetDouble());
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Score_MatchesVector(int caseIndex, string datasetAndUser)
    {
        var root = Cases.Value.RootElement;
        var now = root.GetProperty("format").GetProperty("now").GetDouble();
        var c = root.GetProperty("cases")[caseIndex];
        var graph = BuildGraph(c.GetProperty("dataset").GetString()!, c.GetProperty("userid").GetString()!);
        var calculator = new ThreatRankCalculator(graph, now, c.GetProperty("decay").GetDouble());
        var actual = calculator.Score(c.GetProperty("event").GetString()!, c.GetProperty("max_hops").GetInt32());

        var expected = c.GetProperty("expected");
        var context = $"case {caseIndex} ({datasetAndUser})";
        if (expected.GetProperty("status").GetString() == "ready")
        {
            Assert.True(actual.IsSuccess, $"{context}: failed with {actual.FailureReason}");
            ThreatRankPropertyTests.AssertClose(expected.GetProperty("threatrank").GetDouble(), actual.Score, context);
        }
        else
        {
            Assert.Equal("failed", expected.GetProperty("status").GetString());
            Assert.False(actual.IsSuccess, $"{context}: expected a failure, got {actual.Score}");
            Assert.Equal(expected.GetProperty("reason").GetString(), actual.FailureReason);
        }
    }

    /// <summary>
    /// G_U: the events whose orgid is an org listing the user in <c>_usr_ref</c>, with the
    /// attribute hashes (documents of itype attribute) among their <c>_ref</c>.
    /// </summary>
    private static ThreatRankGraph BuildGraph(string datasetName, string userId)
    {
        var dataset = Reports.Value.RootElement.GetProperty("datasets").EnumerateArray()
            .Single(d => d.GetProperty("name").GetString() == datasetName);
        var orgs = dataset.GetProperty("identity_docs").EnumerateArray()
            .Where(d => d.TryGetProperty("sub_type", out var s) && s.GetString() == "cybexp_org"
                && d.GetProperty("_usr_ref").EnumerateArray().Any(u => u.GetString() == userId))
            .Select(d => d.GetProperty("_hash").GetString()!)
            .ToHashSet(StringComparer.Ordinal);
        var tahoe = dataset.GetProperty("tahoe_docs").EnumerateArray().ToList();
        var attributes = tahoe
            .Where(d => d.GetProperty("itype").GetString() == "attribute")
            .Select(d => d.GetProperty("_hash").GetString()!)
            .ToHashSet(StringComparer.Ordinal);
        var builder = new ThreatRankGraphBuilder();
        foreach (var d in tahoe)
        {
            if (d.GetProperty("itype").GetString() != "event" || !orgs.Contains(d.GetProperty("orgid").GetString()!))
            {
                continue;
            }

            builder.AddEvent(
                d.GetProperty("_hash").GetString()!,
                d.GetProperty("timestamp").GetDouble(),
                d.GetProperty("category").GetString() == "malicious",
                d.GetProperty("_ref").EnumerateArray().Select(r => r.GetString()!).Where(attributes.Contains));
        }

        return builder.Build();
    }
}
