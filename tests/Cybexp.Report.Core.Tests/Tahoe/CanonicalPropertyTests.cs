using CsCheck;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

public class CanonicalPropertyTests
{
    private static readonly Gen<string> Text = Gen.OneOf(
        Gen.String[Gen.Char['a', 'e'], 0, 4],
        Gen.String[Gen.Char, 0, 6],
        Gen.Const(" x "), Gen.Const("\u00e9"), Gen.Const("\U0001F600"), Gen.Const("\u001c"), Gen.Const("\\"), Gen.Const("\""));

    private static readonly Gen<TahoeValue> Scalar = Gen.OneOf(
        Gen.Const(TahoeValue.Null),
        Gen.Bool.Select(TahoeValue.Bool),
        Gen.Long[-1000, 1000].Select(TahoeValue.Int),
        Gen.Long.Select(TahoeValue.Int),
        Gen.Double.Select(TahoeValue.Float),
        Gen.Double[-1e6, 1e6].Select(TahoeValue.Float),
        Text.Select(TahoeValue.String));

    private static Gen<TahoeValue> Value(int depth) => depth == 0
        ? Scalar
        : Gen.Frequency(
            (3, Scalar),
            (1, Value(depth - 1).Array[0, 4].Select(a => TahoeValue.List(a))),
            (1, Gen.Select(Gen.String[Gen.Char['a', 'f'], 0, 3], Value(depth - 1)).Array[0, 4]
                .Select(kv => TahoeValue.Dict(kv.Select(p => new KeyValuePair<string, TahoeValue>(p.Item1, p.Item2))))));

    [Fact]
    public void Canonical_IgnoresDictKeyOrderAndListOrderAndDuplicates()
    {
        Value(3).Select(Gen.Int).Sample((v, seed) =>
        {
            var shuffled = Shuffle(v, new Random(seed));
            return Canonical.Of(v) == Canonical.Of(shuffled);
        }, iter: 2000);
    }

    [Fact]
    public void Decanonical_InvertsCanonical_ForDictsOfScalars()
    {
        // One decanonical undoes one canonical for a dict/list of JSON-representable members (strings already stripped).
        var member = Gen.OneOf(
            Gen.Const(TahoeValue.Null),
            Gen.Bool.Select(TahoeValue.Bool),
            Gen.Long.Select(TahoeValue.Int),
            Gen.Double.Where(double.IsFinite).Select(TahoeValue.Float),
            Text.Select(s => TahoeValue.String(PythonText.Strip(s))));
        Gen.Select(Gen.String[Gen.Char['a', 'h'], 1, 3], member).Array[0, 6]
            .Select(kv => TahoeValue.Dict(kv.Select(p => new KeyValuePair<string, TahoeValue>(p.Item1, p.Item2))))
            .Sample(d =>
            {
                var back = Canonical.Decanonical(Canonical.Of(d));
                // A str member that itself is JSON text (e.g. "1") decanonicalises to that JSON value, as in Python;
                // apart from that the dict round-trips.
                return back.AsDict.Entries.All(e =>
                {
                    var original = d.AsDict[e.Key]!;
                    return original.Equals(e.Value) || (original is TahoeString s && PythonJson.TryParse(s.Value, DuplicateKeys.LastWins, out _, out _));
                });
            }, iter: 2000);
    }

    [Fact]
    public void ParseThenWrite_RoundTrips()
    {
        Value(3).Sample(v =>
        {
            var text = TahoeJsonWriter.Write(v);
            return JsonRoundTrip(text).Equals(v);
        }, iter: 2000);
    }

    private static TahoeValue JsonRoundTrip(string text) => MongoExtendedJson.Normalize(PythonJson.Parse(text, DuplicateKeys.LastWins));

    private static TahoeValue Shuffle(TahoeValue v, Random rng) => v switch
    {
        TahoeList l => TahoeValue.List(l.Items.Concat(l.Items.Take(1)).OrderBy(_ => rng.Next()).Select(x => Shuffle(x, rng)).ToArray()),
        TahoeDict d => TahoeValue.Dict(d.Entries.OrderBy(_ => rng.Next()).Select(e => new KeyValuePair<string, TahoeValue>(e.Key, Shuffle(e.Value, rng))).ToArray()),
        _ => v,
    };
}
