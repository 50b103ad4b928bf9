using CsCheck;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

public class InstancePropertyTests
{
    private static readonly Gen<string> SubType = Gen.OneOf(Gen.Const("ipv4"), Gen.Const("url"), Gen.Const("file"), Gen.Const("x"), Gen.Const("é"));

    private static readonly Gen<TahoeValue> Scalar = Gen.OneOf(
        Gen.Const(TahoeValue.Null),
        Gen.Bool.Select(TahoeValue.Bool),
        Gen.Long.Select(TahoeValue.Int),
        Gen.Double.Select(TahoeValue.Float),
        Gen.String[Gen.Char, 0, 8].Select(TahoeValue.String),
        Gen.OneOf(Gen.Const(" a "), Gen.Const("\"q\\"), Gen.Const("\U0001F4CE")).Select(TahoeValue.String));

    private static readonly Gen<TahoeInstance> Attribute =
        Gen.Select(SubType, Scalar).Select(p => (TahoeInstance)TahoeAttribute.Create(p.Item1, p.Item2));

    private static Gen<TahoeInstance> Child(int depth) => depth == 0
        ? Attribute
        : Gen.Frequency(
            (3, Attribute),
            (1, Gen.Select(SubType, Child(depth - 1).Array[1, 4]).Select(p => (TahoeInstance)TahoeObject.Create(p.Item1, p.Item2))));

    // The incremental hash (children's cached canonical strings) must equal the plain rule over the document.
    [Fact]
    public void Event_HashEqualsTheUniqueTextOfItsDocument_AndRoundTrips()
    {
        Gen.Select(Child(2).Array[1, 6], Gen.Double[0, 2e9], SubType).Sample((children, ts, subType) =>
        {
            var e = TahoeEvent.Create(subType, children, "org", ts);
            var reread = TahoeInstance.FromDocument(e.Document);
            return UniqueText.TryCompute(e.Document, out var unique, out _) &&
                unique == e.Unique &&
                InstanceHash.Of(unique) == e.Hash &&
                reread.Ok &&
                reread.Value.Document.Equals(e.Document);
        }, iter: 500);
    }

    [Fact]
    public void Object_HashDoesNotDependOnChildOrder()
    {
        Gen.Select(Child(2).Array[1, 6], Gen.Int).Sample((children, seed) =>
        {
            var shuffled = children.ToArray();
            new Random(seed).Shuffle(shuffled);
            return TahoeObject.Create("o", children).Hash == TahoeObject.Create("o", shuffled).Hash;
        }, iter: 500);
    }
}
