using System.Text.Json;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

public class DocumentVerifierTests
{
    private static readonly JsonElement Root = JsonDocument.Parse(File.ReadAllText(Vectors.Path("hash.json"))).RootElement;

    private const string Filename = "38d079afbbdf92021aecf8061ac9230d1eeb6a51877b6517366825e22b50d3a6";
    private const string Ipv4 = "4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6";

    public static TheoryData<string> ValidCaseIds() => new(ValidIds());

    /// <summary>Cases that ran without error and whose every instance hashes its own unique text.</summary>
    private static List<string> ValidIds()
    {
        var ids = new List<string>();
        foreach (var c in Root.GetProperty("cases").EnumerateArray())
        {
            var expected = c.GetProperty("expected");
            var selfCheck = expected.GetProperty("hash_equals_sha256_of_unique").EnumerateObject().ToList();
            var id = c.GetProperty("id").GetString()!;
            if (!expected.TryGetProperty("error", out _) && selfCheck.Count > 0 && selfCheck.All(p => p.Value.GetBoolean()) &&
                !Store(id).Any(HasPlaceholderRefs))
            {
                ids.Add(id);
            }
        }

        return ids;
    }

    /// <summary>
    /// The stored documents of a vector case. The vectors write non-finite floats as <c>{"$nonfinite": "NaN"}</c>;
    /// they are turned into the Extended JSON form a mongoexport would hold.
    /// </summary>
    private static List<TahoeDict> Store(string id)
    {
        var c = Root.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("id").GetString() == id);
        return c.GetProperty("expected").GetProperty("store").EnumerateArray()
            .Select(d => d.GetRawText().Replace("\"$nonfinite\"", "\"$numberDouble\"", StringComparison.Ordinal))
            .Select(text => (TahoeDict)MongoExtendedJson.Normalize(PythonJson.Parse(text)))
            .ToList();
    }

    // raw-007 stores the placeholder refs "h1"/"h2" (its add_ref step uses them); a test below covers it.
    private static bool HasPlaceholderRefs(TahoeDict doc) =>
        doc["_ref"] is TahoeList refs && refs.Items.Any(r => r is not TahoeString { Value.Length: 64 });

    [Theory]
    [MemberData(nameof(ValidCaseIds))]
    public void StoredDocumentsOfTheOriginal_AreValid(string id)
    {
        var docs = Store(id);
        Assert.NotEmpty(docs);
        foreach (var doc in docs)
        {
            var problems = DocumentVerifier.Verify(doc);
            Assert.True(problems.Count == 0, $"{id}: {doc["_hash"]}: {string.Join("; ", problems)}");
        }
    }

    [Fact]
    public void ValidCases_CoverEveryItype()
    {
        var itypes = ValidIds().SelectMany(Store).Select(d => d["itype"]!.AsString).ToHashSet();
        Assert.Equal(["attribute", "event", "object", "raw", "report", "session"], itypes.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void PlaceholderRefs_AreTheOnlyProblemOfTheRawAddRefCase()
    {
        var doc = Assert.Single(Store("raw-007"));
        Assert.Equal(
            ["'_ref'[0] is not 64 lowercase hex digits: \"h1\"", "'_ref'[1] is not 64 lowercase hex digits: \"h2\""],
            DocumentVerifier.Verify(doc));
    }

    private static TahoeDict Attribute() => Store("attribute-001")[0];

    // event-023: _ref = {Filename, Ipv4}, _ben_ref = {Ipv4}, _mal_ref empty.
    private static TahoeDict Event() => Store("event-023").Single(d => d["itype"]!.AsString == "event");

    private static TahoeValue Hashes(params string[] hashes) => TahoeValue.List(hashes.Select(TahoeValue.String));

    private static string Recomputed(TahoeDict doc)
    {
        Assert.True(UniqueText.TryCompute(doc, out var unique, out var error), error);
        return InstanceHash.Of(unique).Value;
    }

    [Fact]
    public void ChangedData_IsReportedWithTheRecomputedHash()
    {
        var doc = Attribute().With("data", TahoeValue.String("1.1.1.2"));

        var problem = Assert.Single(DocumentVerifier.Verify(doc));
        Assert.Equal($"'_hash' does not match the content: recomputed {Recomputed(doc)}", problem);
        Assert.NotEqual(Ipv4, Recomputed(doc));
    }

    [Fact]
    public void ChangedEventTimestamp_IsReported()
    {
        var doc = Event();
        Assert.Empty(DocumentVerifier.Verify(doc));

        var moved = doc.With("timestamp", TahoeValue.Float(100.5));
        Assert.Equal([$"'_hash' does not match the content: recomputed {Recomputed(moved)}"], DocumentVerifier.Verify(moved));
    }

    [Fact]
    public void CategoryAndContextEdits_DoNotChangeTheHash()
    {
        var doc = Event().With("category", TahoeValue.String("malicious")).With("_ben_ref", Hashes()).With("_mal_ref", Hashes(Filename));

        Assert.Empty(DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void WrongHash_IsReportedWithTheRightOne()
    {
        var doc = Attribute().With("_hash", TahoeValue.String(new string('0', 64)));

        Assert.Equal([$"'_hash' does not match the content: recomputed {Ipv4}"], DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void UppercaseHash_IsReportedOnceAsAFormatProblem()
    {
        var doc = Attribute().With("_hash", TahoeValue.String(Ipv4.ToUpperInvariant()));

        var problem = Assert.Single(DocumentVerifier.Verify(doc));
        Assert.StartsWith("'_hash' must be 64 lowercase hex digits", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingHash_IsReported()
    {
        Assert.Equal(["'_hash' is missing"], DocumentVerifier.Verify(Attribute().Without("_hash")));
    }

    [Fact]
    public void CrefNotInRef_NamesTheHash()
    {
        var doc = Event().With("_ref", Hashes(Ipv4));

        Assert.Equal([$"'_cref' holds {Filename}, which is not in '_ref'"], DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void BenRefNotInRef_NamesTheHash()
    {
        var stranger = new string('a', 64);
        var doc = Event().With("_ben_ref", Hashes(Ipv4, stranger));

        Assert.Equal([$"'_ben_ref' holds {stranger}, which is not in '_ref'"], DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void ChildBothBenignAndMalicious_NamesTheHash()
    {
        var doc = Event().With("_mal_ref", Hashes(Ipv4));

        Assert.Equal([$"{Ipv4} is in both '_ben_ref' and '_mal_ref'"], DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void EdgeListThatIsNotAListOfHashes_IsReported()
    {
        var doc = Event().With("_cref", TahoeValue.String(Filename)).With("_ref", Hashes(Filename, Ipv4, "XYZ"));

        Assert.Equal(
            ["'_cref' must be a list of hashes, got \"" + Filename + "\"", "'_ref'[2] is not 64 lowercase hex digits: \"XYZ\""],
            DocumentVerifier.Verify(doc));
    }

    [Theory]
    [InlineData("harmful")]
    [InlineData("Malicious")]
    public void BadCategory_IsReported(string category)
    {
        var doc = Event().With("category", TahoeValue.String(category));

        Assert.Equal([$"event 'category' must be benign, malicious or unknown; got \"{category}\""], DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void EventWithoutNumericTimestampOrOrgid_IsReported_WithoutAHashAttempt()
    {
        var doc = Event().With("timestamp", TahoeValue.String("100.0")).Without("orgid");

        Assert.Equal(["event 'orgid' is missing or not a string", "event 'timestamp' is missing or not a number"], DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void NonScalarAttributeData_IsReported()
    {
        var doc = Attribute().With("data", TahoeValue.List(TahoeValue.String("1.1.1.1")));

        var problems = DocumentVerifier.Verify(doc);
        Assert.Equal("attribute 'data' must be a scalar (str, int, float, bool or null), got a list", problems[0]);
        Assert.StartsWith("'_hash' does not match the content", problems[1], StringComparison.Ordinal);
        Assert.Equal(2, problems.Count);
    }

    [Fact]
    public void UnknownItype_IsReported()
    {
        var doc = Attribute().With("itype", TahoeValue.String("thing"));

        Assert.Contains("'itype' must be one of attribute, object, event, session, raw, report; got \"thing\"", DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void NonIdentifierSubType_IsReported()
    {
        var doc = Attribute().With("sub_type", TahoeValue.String("ip-v4"));

        Assert.Contains("'sub_type' \"ip-v4\" is not a Python identifier", DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void LoneSurrogateInSubType_IsReported_NotThrown()
    {
        // Data is written with \u escapes, but sub_type goes into the unique text raw and UTF-8 cannot encode it.
        var doc = Attribute().With("sub_type", TahoeValue.String("ip\ud800"));

        Assert.Equal(
            ["'sub_type' \"ip\\ud800\" is not a Python identifier", "'_hash' cannot be recomputed: the content holds a lone surrogate, which UTF-8 cannot encode"],
            DocumentVerifier.Verify(doc));
    }

    [Fact]
    public void QueryWithoutItsHashFields_IsReported()
    {
        var doc = TahoeDict.Empty
            .With("itype", TahoeValue.String("object"))
            .With("data", TahoeValue.Dict(("qtype", TahoeValue.List(TahoeValue.String("count")))))
            .With("sub_type", TahoeValue.String("query"))
            .With("_hash", TahoeValue.String(Ipv4));

        Assert.Equal(["'_hash' cannot be recomputed: query 'data' must hold qtype, qhash, userid and timestamp"], DocumentVerifier.Verify(doc));
    }

    [Theory]
    [InlineData("ipv4", true)]
    [InlineData("_private", true)]
    [InlineData("file_download", true)]
    [InlineData("\u00e9t\u00e9", true)]
    [InlineData("\u6570\u636e", true)]
    [InlineData("x\u0301", true)]
    [InlineData("", false)]
    [InlineData("1abc", false)]
    [InlineData("ip-v4", false)]
    [InlineData("a b", false)]
    [InlineData("a\ud800", false)]
    [InlineData("\U0001F600", false)]
    public void IsPythonIdentifier_ApproximatesStrIsidentifier(string text, bool expected)
    {
        Assert.Equal(expected, DocumentVerifier.IsPythonIdentifier(text));
    }
}
