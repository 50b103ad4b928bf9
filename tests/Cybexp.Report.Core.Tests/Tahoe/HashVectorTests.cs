using System.Text.Json;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>Replays every instance case of hash.json against the instance types and an emulated original store.</summary>
public class HashVectorTests
{
    private static readonly JsonElement Root = JsonDocument.Parse(File.ReadAllText(Vectors.Path("hash.json"))).RootElement;

    public static TheoryData<string> CaseIds()
    {
        var data = new TheoryData<string>();
        foreach (var c in Root.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("id").GetString()!);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Case_BuildsTheDocumentsOfTheOriginal(string id)
    {
        var c = Case(id);
        var expected = c.GetProperty("expected");
        var replay = Replay.Run(c.GetProperty("build"));

        if (expected.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
        {
            Assert.True(replay.Error is not null, $"{id}: expected {error.GetProperty("type").GetString()} at step {error.GetProperty("step").GetInt32()}, got no error");
            Assert.Equal(error.GetProperty("step").GetInt32(), replay.ErrorStep);
            Assert.Equal(error.GetProperty("type").GetString(), replay.Error!.Kind.ToString());
        }
        else
        {
            Assert.True(replay.Error is null, $"{id}: unexpected error at step {replay.ErrorStep}: {replay.Error?.Message}");
        }

        var target = c.GetProperty("target").GetString()!;
        if (expected.GetProperty("target_doc").ValueKind == JsonValueKind.Object)
        {
            AssertDoc(id, target, VectorValues.Doc(expected.GetProperty("target_doc")), replay.Instances[target].Document, checkKeyOrder: true);
        }
        else
        {
            Assert.False(replay.Instances.ContainsKey(target), $"{id}: '{target}' should not have been built");
        }

        foreach (var p in expected.GetProperty("instances").EnumerateObject())
        {
            Assert.True(replay.Instances.ContainsKey(p.Name), $"{id}: instance '{p.Name}' was not built");
            AssertDoc(id, p.Name, VectorValues.Doc(p.Value), replay.Instances[p.Name].Document, checkKeyOrder: true);
        }

        Assert.Equal(expected.GetProperty("instances").EnumerateObject().Count(), replay.Instances.Count);

        foreach (var p in expected.GetProperty("unique").EnumerateObject())
        {
            Assert.Equal(p.Value.GetString(), replay.Instances[p.Name].Unique);
        }

        var store = expected.GetProperty("store").EnumerateArray().Select(VectorValues.Doc).ToList();
        Assert.Equal(
            store.Select(d => d["_hash"]!.AsString).ToList(),
            replay.Store.Documents.Select(d => d["_hash"]!.AsString).ToList());
        for (var i = 0; i < store.Count; i++)
        {
            AssertDoc(id, $"store[{i}]", store[i], replay.Store.Documents[i], checkKeyOrder: false);
        }
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void StoredDocuments_RehashAndRoundTrip(string id)
    {
        var expected = Case(id).GetProperty("expected");
        var selfConsistent = expected.GetProperty("hash_equals_sha256_of_unique").EnumerateObject().All(p => p.Value.GetBoolean());
        Assert.True(selfConsistent, $"{id}: every case of this vector file is self-consistent; a false flag needs a new rule here");
        foreach (var element in expected.GetProperty("store").EnumerateArray())
        {
            var doc = VectorValues.Doc(element);
            Assert.True(UniqueText.TryCompute(doc, out var unique, out var error), $"{id}: {error}");
            Assert.Equal(doc["_hash"]!.AsString, InstanceHash.Of(unique).Value);

            var parsed = TahoeInstance.FromDocument(doc);
            Assert.True(parsed.Ok, $"{id}: {doc["_hash"]} does not parse: '{parsed.Field}': {parsed.Error}");
            Assert.Equal(unique, parsed.Instance!.Unique);
            Assert.Equal(VectorValues.Normalise(doc), VectorValues.Normalise(parsed.Instance.Document));
        }
    }

    private static void AssertDoc(string id, string name, TahoeDict expected, TahoeDict actual, bool checkKeyOrder)
    {
        if (checkKeyOrder)
        {
            Assert.True(
                VectorValues.Keys(expected) == VectorValues.Keys(actual),
                $"{id}: '{name}' key order: expected {VectorValues.Keys(expected)}, got {VectorValues.Keys(actual)}");
        }

        var e = VectorValues.Normalise(expected);
        var a = VectorValues.Normalise(actual);
        foreach (var entry in e.Entries)
        {
            Assert.True(a.TryGet(entry.Key, out var value), $"{id}: '{name}' lacks '{entry.Key}'");
            Assert.True(entry.Value.Equals(value), $"{id}: '{name}'.{entry.Key}: expected {entry.Value}, got {value}");
        }

        Assert.True(e.Count == a.Count, $"{id}: '{name}' has extra keys: {VectorValues.Keys(actual)}");
    }

    internal static JsonElement Case(string id) =>
        Root.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("id").GetString() == id);
}
