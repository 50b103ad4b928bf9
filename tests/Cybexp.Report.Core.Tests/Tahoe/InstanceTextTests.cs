using CsCheck;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>
/// Instances hash the UTF-8 text they compose from their children's kept bytes; checked against
/// <see cref="ReferenceCanonical"/> applied to the instance's data.
/// </summary>
public class InstanceTextTests
{
    private static readonly Gen<string> SubType = Gen.OneOf(Gen.Const("ipv4"), Gen.Const("url"), Gen.Const("x"), Gen.Const("\u00e9t\u00e9"), Gen.Const("\u0391\u03b2"));

    private static readonly Gen<TahoeValue> Scalar = Gen.OneOf(
        Gen.Const(TahoeValue.Null),
        Gen.Bool.Select(TahoeValue.Bool),
        Gen.Long.Select(TahoeValue.Int),
        Gen.Long.Select(BitConverter.Int64BitsToDouble).Select(TahoeValue.Float),
        Gen.String[Gen.Char, 0, 10].Select(TahoeValue.String),
        Gen.String[Gen.OneOf(Gen.Const('"'), Gen.Const('\\'), Gen.Const('a'), Gen.Const('\u0001')), 0, 6].Select(TahoeValue.String),
        Gen.OneOf(Gen.Const(" a "), Gen.Const("\U0001F4CE\u00e9"), Gen.Const("\ud800x"), Gen.Const("\u001f")).Select(TahoeValue.String));

    private static readonly Gen<TahoeInstance> Attribute =
        Gen.Select(SubType, Scalar).Select(p => (TahoeInstance)TahoeAttribute.Create(p.Item1, p.Item2));

    private static Gen<TahoeInstance> Child(int depth) => depth == 0
        ? Attribute
        : Gen.Frequency(
            (3, Attribute),
            (1, Gen.Select(SubType, Child(depth - 1).Array[1, 5]).Select(p => (TahoeInstance)TahoeObject.Create(p.Item1, p.Item2))));

    private static readonly Gen<string> Orgid = Gen.OneOf(Gen.Const("org"), Gen.String[Gen.Char['a', 'z'], 0, 8], Gen.Const("\u00f6rg \U0001F600"));

    [Fact]
    public void Event_UniqueTextAndHash_MatchTheReference()
    {
        Gen.Select(Child(3).Array[1, 8], Gen.Double[-1e10, 1e18], SubType, Orgid).Sample((children, ts, subType, orgid) =>
        {
            var e = TahoeEvent.Create(subType, children, orgid, ts);
            var unique = ReferenceCanonical.EventUnique(subType, orgid, ts, e.Data);
            return e.Unique == unique && e.Hash.Value == ReferenceCanonical.Sha256(unique) && e.CanonicalData == ReferenceCanonical.Of(e.Data);
        }, iter: 1000);
    }

    [Fact]
    public void ObjectsAndAttributes_CanonicalDataAndHash_MatchTheReference()
    {
        Child(3).Sample(c =>
        {
            var unique = c.Itype + c.SubType + ReferenceCanonical.Of(c.Data);
            return c.CanonicalData == ReferenceCanonical.Of(c.Data) && c.Unique == unique && c.Hash.Value == ReferenceCanonical.Sha256(unique);
        }, iter: 2000);
    }

    [Fact]
    public void Object_ComposedFromDuplicateChildren_ListsEachCanonicalTextOnce()
    {
        var a = TahoeAttribute.Create("x", "same");
        var b = TahoeAttribute.Create("x", "same");
        var o = TahoeObject.Create("o", a, b, TahoeAttribute.Create("x", " same "));
        Assert.Equal("{\"x\": \"[\\\"\\\\\\\"same\\\\\\\"\\\"]\"}", o.CanonicalData);
        Assert.Equal(ReferenceCanonical.Of(o.Data), o.CanonicalData);
    }

    [Fact]
    public void Event_WithALoneSurrogateInItsOrgid_CannotBeHashed()
    {
        var e = Assert.Throws<TahoeException>(() => TahoeEvent.Create("x", [TahoeAttribute.Create("a", "b")], "org\ud800", 1.0));
        Assert.Equal(TahoeErrorKind.ValueError, e.Kind);
        Assert.Contains("lone surrogate", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Event_WithALoneSurrogateInItsData_IsHashedFromTheEscapedText()
    {
        var e = TahoeEvent.Create("x", [TahoeAttribute.Create("a", "\udc00")], "org", 1.0);
        Assert.Equal(ReferenceCanonical.Sha256(ReferenceCanonical.EventUnique("x", "org", 1.0, e.Data)), e.Hash.Value);
    }

    [Fact]
    public void RestoredInstances_KeepTheSameTextAsBuiltOnes()
    {
        Gen.Select(Child(2).Array[1, 6], SubType).Sample((children, subType) =>
        {
            var o = TahoeObject.Create(subType, children);
            var e = TahoeEvent.Create(subType, [o, .. children], "org", 12.5);
            var rereadObject = TahoeInstance.FromDocument(o.Document);
            var rereadEvent = TahoeInstance.FromDocument(e.Document);
            return rereadObject.Ok && rereadObject.Value.Unique == o.Unique && rereadObject.Value.CanonicalData == o.CanonicalData &&
                rereadEvent.Ok && rereadEvent.Value.Unique == e.Unique && rereadEvent.Value.Hash == e.Hash;
        }, iter: 300);
    }
}
