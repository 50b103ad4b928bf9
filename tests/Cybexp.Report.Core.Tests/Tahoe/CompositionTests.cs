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
    public void HashListSort_MatchesInstanceHashOrder_AndDropsRepeats()
    {
        // Hash lists sort on a packed prefix (digests), falling back to a full comparison on ties (the "ab" texts
        // share long prefixes) and to Array.Sort past 128 entries; all must agree with InstanceHash's ordinal order.
        var hash = Gen.OneOf(
            Gen.String[Gen.Char["0123456789abcdef"], 64, 64],
            Gen.String[Gen.Char["ab"], 64, 64]).Select(s => InstanceHash.Parse(s));
        Gen.Select(Gen.Frequency((20, hash), (1, Gen.Const(default(InstanceHash)))).Array[0, 300], Gen.Int[0, 300], Gen.Int[0, 5]).Sample((hashes, split, repeats) =>
        {
            // Children first, then descendants, some of them repeating children.
            var all = hashes.Concat(hashes.Take(repeats)).ToArray();
            var childCount = Math.Min(split, all.Length);
            InstanceRules.SortEdges(all, childCount, out var children, out var everything);
            return everything.SequenceEqual(all.Distinct().Order()) &&
                children.SequenceEqual(all.Take(childCount).Distinct().Order()) &&
                InstanceRules.SortedCopy(all).SequenceEqual(everything);
        }, iter: 3000);
    }
}
