using CsCheck;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>The composition fast paths: child validation, per-sub_type sort and de-duplication, hash-list merging.</summary>
public class CompositionTests
{
    [Theory]
    [InlineData(5)]
    [InlineData(17)]
    [InlineData(40)]
    public void Object_WithManyChildrenOfOneSubType_SortsAndDeduplicatesThemLikeTheReference(int count)
    {
        Gen.Int[0, 1000].Array[count].Sample(values =>
        {
            // Distinct instances with repeated values: equal canonical texts must be listed once.
            var children = values.Select(v => (TahoeInstance)TahoeAttribute.Create("x", TahoeValue.String((v % 7).ToString(System.Globalization.CultureInfo.InvariantCulture) + new string('"', v % 3)))).ToArray();
            var o = TahoeObject.Create("o", children);
            var unique = "objecto" + ReferenceCanonical.Of(o.Data);
            return o.Unique == unique && o.Hash.Value == ReferenceCanonical.Sha256(unique);
        }, iter: 200);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(40)]
    public void Children_PassedTwiceByReference_CountOnce_AndNullsAreRejected(int count)
    {
        var children = Enumerable.Range(0, count).Select(i => (TahoeInstance)TahoeAttribute.Create("a", TahoeValue.Int(i))).ToArray();
        var once = TahoeObject.Create("o", children);
        var twice = TahoeObject.Create("o", [.. children, .. children]);
        Assert.Equal(once.Document, twice.Document);
        Assert.Equal(count, twice.Cref.Length);

        TahoeInstance?[] withNull = [.. children, null];
        var e = Assert.Throws<TahoeException>(() => TahoeObject.Create("o", withNull!));
        Assert.Equal(TahoeErrorKind.TypeError, e.Kind);
    }

    [Fact]
    public void Children_GivenAsAnyEnumerable_ComposeLikeAnArray()
    {
        var children = Enumerable.Range(0, 5).Select(i => (TahoeInstance)TahoeAttribute.Create("a", TahoeValue.Int(i % 3))).ToList();
        Assert.Equal(TahoeObject.Create("o", children.ToArray()).Hash, TahoeObject.Create("o", children.Where(_ => true)).Hash);
    }

    [Fact]
    public void Ref_IsTheSortedUnionOfTheChildrenAndTheirRefs()
    {
        var shared = TahoeAttribute.Create("a", "shared");
        var inner = TahoeObject.Create("inner", shared, TahoeAttribute.Create("b", "x"));
        var outer = TahoeObject.Create("outer", inner, TahoeAttribute.Create("c", "y"));
        var e = TahoeEvent.Create("ev", [outer, shared, TahoeAttribute.Create("d", "z")], "org", 1.0);
        var expected = new[] { outer.Hash, shared.Hash }
            .Concat(outer.Ref).Concat(e.Cref)
            .Distinct().Order().ToArray();
        Assert.Equal<InstanceHash>(expected, e.Ref);
        Assert.Equal<InstanceHash>(e.Cref.Order(), e.Cref);
    }

    [Fact]
    public void HashListOrder_MatchesInstanceHashOrder_ForAnyText()
    {
        // Union sorts with a packed-prefix comparer; it must agree with the ordinal order of InstanceHash.
        var hash = Gen.OneOf(
            Gen.String[Gen.Char["0123456789abcdef"], 64, 64],
            Gen.String[Gen.Char["ab"], 64, 64]).Select(s => InstanceHash.Parse(s));
        var hashes = Gen.Frequency((20, hash), (1, Gen.Const(default(InstanceHash)))).Array[0, 300];
        Gen.Select(hashes, hashes).Sample((a, b) =>
        {
            var sorted = a.Distinct().Order().ToArray();
            var union = InstanceRules.Union(sorted, b.ToArray());
            var sortedCopy = InstanceRules.SortedCopy(a);
            return union.SequenceEqual(a.Concat(b).Distinct().Order()) && sortedCopy.SequenceEqual(sorted);
        }, iter: 1000);
    }
}
