using System.Text.Json;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

public class CanonicalVectorTests
{
    private static readonly JsonElement Root = JsonDocument.Parse(File.ReadAllText(Vectors.Path("hash.json"))).RootElement;

    public static TheoryData<string> CanonicalIds() => Ids("canonical");

    public static TheoryData<string> DecanonicalIds() => Ids("decanonical");

    private static TheoryData<string> Ids(string section)
    {
        var data = new TheoryData<string>();
        foreach (var c in Root.GetProperty(section).EnumerateArray())
        {
            data.Add(c.GetProperty("id").GetString()!);
        }

        return data;
    }

    private static JsonElement Case(string section, string id) =>
        Root.GetProperty(section).EnumerateArray().Single(c => c.GetProperty("id").GetString() == id);

    [Theory]
    [MemberData(nameof(CanonicalIds))]
    public void Canonical_MatchesOriginal(string id)
    {
        var c = Case("canonical", id);
        var input = PythonJson.Parse(c.GetProperty("input_json").GetString()!, DuplicateKeys.LastWins);
        Assert.Equal(c.GetProperty("output").GetString(), Canonical.Of(input));
    }

    [Theory]
    [MemberData(nameof(DecanonicalIds))]
    public void Decanonical_MatchesOriginal(string id)
    {
        var c = Case("decanonical", id);
        var expected = PythonJson.Parse(c.GetProperty("output").GetRawText(), DuplicateKeys.LastWins);
        var actual = Canonical.Decanonical(c.GetProperty("input").GetString()!);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData("attributeipv4\"1.1.1.1\"", "4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6")]
    [InlineData("attributesubject\"Saying Hello\"", "50f22cc9")]
    public void KnownUniqueTexts_HashAsTheOriginal(string unique, string hashPrefix)
    {
        Assert.StartsWith(hashPrefix, InstanceHash.Of(unique).Value, StringComparison.Ordinal);
    }

    [Fact]
    public void NestedObjectData_CanonicalisesAsTheDocstringExample()
    {
        var data = TahoeValue.Dict(("att_type", TahoeValue.List(TahoeValue.String("value"))));
        var unique = "objectobj_type" + Canonical.Of(data);
        Assert.Equal("objectobj_type{\"att_type\": \"[\\\"\\\\\\\"value\\\\\\\"\\\"]\"}", unique);
        Assert.Equal("a730521ee3b1f3665f25634de1421942d52119b58bf68498cd2beba8d73925be", InstanceHash.Of(unique).Value);
    }
}
