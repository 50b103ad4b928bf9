using System.Text.Json;
using CsCheck;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary><see cref="UniqueText.TryComputeHash"/> must agree with <see cref="UniqueText.TryCompute"/> + <see cref="InstanceHash.Of"/>.</summary>
public class UniqueTextTests
{
    [Theory]
    [MemberData(nameof(HashVectorTests.CaseIds), MemberType = typeof(HashVectorTests))]
    public void TryComputeHash_AgreesWithTheUniqueText_OnEveryStoredDocument(string id)
    {
        var c = HashVectorTests.Case(id);
        foreach (var stored in c.GetProperty("expected").GetProperty("store").EnumerateArray())
        {
            var doc = VectorValues.Doc(stored);
            var (viaText, textError) = ViaText(doc);
            var (direct, directError) = Direct(doc);
            Assert.True(viaText == direct, $"{id}: {viaText} / {direct}");
            Assert.Equal(textError, directError);
            if (viaText is not null && !viaText.StartsWith('!'))
            {
                Assert.Equal(doc["_hash"]!.AsString, viaText);
            }
        }
    }

    [Fact]
    public void TryComputeHash_AgreesWithTheUniqueText_OnRandomEventsAndBrokenDocuments()
    {
        var child = Gen.Select(Gen.OneOf(Gen.Const("ipv4"), Gen.Const("\u00e9t\u00e9")), Gen.String[Gen.Char, 0, 8])
            .Select((t, v) => (TahoeInstance)TahoeAttribute.Create(t, v));
        var orgid = Gen.OneOf(Gen.Const("org"), Gen.String[Gen.Char, 0, 4]);
        var timestamp = Gen.OneOf(Gen.Double.Select(TahoeValue.Float), Gen.Long.Select(TahoeValue.Int), Gen.Const(TahoeValue.String("1")));
        Gen.Select(child.Array[1, 5], orgid, timestamp, Gen.Int[0, 4]).Sample((children, org, ts, breakage) =>
        {
            var doc = TahoeEvent.Create("e", children, "org", 1.5).Document.With("orgid", TahoeValue.String(org)).With("timestamp", ts);
            doc = breakage switch
            {
                1 => doc.Without("data"),
                2 => doc.With("itype", TahoeValue.Int(1)),
                3 => doc.Without("orgid"),
                _ => doc,
            };
            return ViaText(doc) == Direct(doc);
        }, iter: 2000);
    }

    [Fact]
    public void TryComputeHash_OfALoneSurrogateInTheText_ThrowsLikeInstanceHashOf()
    {
        var doc = TahoeEvent.Create("e", [TahoeAttribute.Create("a", "b")], "org", 1.0).Document.With("orgid", TahoeValue.String("x\ud800"));
        Assert.True(UniqueText.TryCompute(doc, out var unique, out _));
        Assert.Throws<ArgumentException>(() => InstanceHash.Of(unique));
        Assert.Throws<ArgumentException>(() => UniqueText.TryComputeHash(doc, out _, out _));
    }

    // The hash (or "!" + exception type) and the error, by way of the unique text.
    private static (string? Hash, string Error) ViaText(TahoeDict doc)
    {
        if (!UniqueText.TryCompute(doc, out var unique, out var error))
        {
            return (null, error);
        }

        try
        {
            return (InstanceHash.Of(unique).Value, error);
        }
        catch (ArgumentException e)
        {
            return ("!" + e.GetType().Name, error);
        }
    }

    private static (string? Hash, string Error) Direct(TahoeDict doc)
    {
        try
        {
            return UniqueText.TryComputeHash(doc, out var hash, out var error) ? (hash.Value, error) : (null, error);
        }
        catch (ArgumentException e)
        {
            return ("!" + e.GetType().Name, string.Empty);
        }
    }
}
