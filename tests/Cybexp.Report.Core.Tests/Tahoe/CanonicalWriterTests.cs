using System.Numerics;
using CsCheck;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>The direct-to-UTF-8 canonical writer against <see cref="ReferenceCanonical"/> on random values.</summary>
public class CanonicalWriterTests
{
    // Text that exercises every escape: quotes, backslashes, control chars, DEL, Latin-1, BMP, surrogate pairs,
    // lone surrogates and Python-only whitespace (U+001C..U+001F, U+0085) at the edges.
    private static readonly Gen<string> Text = Gen.OneOf(
        Gen.String[Gen.Char['a', 'e'], 0, 4],
        Gen.String[Gen.Char, 0, 8],
        Gen.String[Gen.Char[(char)0, (char)0x80], 0, 8],
        Gen.String[Gen.OneOf(Gen.Const('"'), Gen.Const('\\'), Gen.Const('x'), Gen.Const('\n')), 0, 6],
        Gen.Const(" x "), Gen.Const("\u001c\u0085 y\u3000"), Gen.Const("R\u00e9sum\u00e9 \U0001F4CE"), Gen.Const("\ud800"),
        Gen.Const("\udc00a"), Gen.Const("\u007f"), Gen.Const("\U0001F600\uffff"));

    private static readonly Gen<BigInteger> BigInt = Gen.Select(Gen.Long, Gen.Long, Gen.Int[0, 3])
        .Select((a, b, shift) => (new BigInteger(a) * b) << (shift * 64));

    private static readonly Gen<double> AnyDouble = Gen.OneOf(
        Gen.Double,
        Gen.Long.Select(BitConverter.Int64BitsToDouble),
        Gen.Double[-1e6, 1e6],
        Gen.Long[-100_000, 100_000].Select(x => x / 1000.0),
        Gen.Int[-330, 310].Select(e => Math.Pow(10, e)),
        // Short decimals (the fast path) and their neighbours one ulp away (which are not short).
        Gen.Select(Gen.Long[-999_999_999_999_999, 999_999_999_999_999], Gen.Int[0, 22]).Select((m, k) => m / Math.Pow(10, k)),
        Gen.Select(Gen.Long[-99_999, 99_999], Gen.Int[-8, 20], Gen.Int[-1, 1]).Select((m, e, ulps) => BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(m * Math.Pow(10, e)) + ulps)),
        Gen.OneOf(Gen.Const(0.0), Gen.Const(-0.0), Gen.Const(double.NaN), Gen.Const(double.PositiveInfinity), Gen.Const(double.NegativeInfinity), Gen.Const(5e-324), Gen.Const(double.MaxValue)));

    private static readonly Gen<TahoeValue> Scalar = Gen.OneOf(
        Gen.Const(TahoeValue.Null),
        Gen.Bool.Select(TahoeValue.Bool),
        Gen.Long.Select(TahoeValue.Int),
        BigInt.Select(TahoeValue.Int),
        AnyDouble.Select(TahoeValue.Float),
        Text.Select(TahoeValue.String));

    private static Gen<TahoeValue> Value(int depth) => depth == 0
        ? Scalar
        : Gen.Frequency(
            (3, Scalar),
            (1, Value(depth - 1).Array[0, 5].Select(a => TahoeValue.List(a))),
            (1, Gen.Select(Text, Value(depth - 1)).Array[0, 5]
                .Select(kv => TahoeValue.Dict(kv.Select(p => new KeyValuePair<string, TahoeValue>(p.Item1, p.Item2))))));

    [Fact]
    public void Canonical_MatchesTheReference_OnRandomValues()
    {
        Value(4).Sample(v => Canonical.Of(v) == ReferenceCanonical.Of(v), iter: 5000);
    }

    [Fact]
    public void Canonical_MatchesTheReference_OnDeepNesting()
    {
        // Eight levels: the innermost quote is escaped into 2^8 - 1 backslashes.
        TahoeValue v = TahoeValue.String("a\"b\\c\u00e9");
        for (var i = 0; i < 8; i++)
        {
            v = i % 2 == 0 ? TahoeValue.Dict(("k\"" + i, v), ("z", TahoeValue.Int(i))) : TahoeValue.List(v, TahoeValue.String("x"), v);
        }

        Assert.Equal(ReferenceCanonical.Of(v), Canonical.Of(v));
    }

    [Fact]
    public void Canonical_MatchesTheReference_OnLargeDictsAndLists()
    {
        // Past 16 keys or list elements the writer sorts with the BCL sort instead of an insertion sort.
        Gen.Select(Text, Scalar).Array[17, 60]
            .Select(kv => TahoeValue.Dict(kv.Select(p => new KeyValuePair<string, TahoeValue>(p.Item1, TahoeValue.List(p.Item2, p.Item2)))))
            .Select(d => TahoeValue.List(d, TahoeValue.List(Enumerable.Range(0, 40).Select(i => TahoeValue.String((i % 13).ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"")))))
            .Sample(v => Canonical.Of(v) == ReferenceCanonical.Of(v), iter: 300);
    }

    [Fact]
    public void Canonical_SortsDictKeysByCodePoint_NotByUtf16Unit()
    {
        // U+FF01 is below U+1F600 as a code point, above its high surrogate U+D83D as a UTF-16 unit.
        var v = TahoeValue.Dict(("\U0001F600", TahoeValue.Int(1)), ("\uff01", TahoeValue.Int(2)), ("\ud800", TahoeValue.Int(3)));
        Assert.Equal("{\"\\ud800\": \"3\", \"\\uff01\": \"2\", \"\\ud83d\\ude00\": \"1\"}", Canonical.Of(v));
        Assert.Equal(ReferenceCanonical.Of(v), Canonical.Of(v));
    }

    [Fact]
    public void Canonical_IsPrintableAscii()
    {
        Value(3).Sample(v => Canonical.Of(v).All(c => c is >= ' ' and <= '~'), iter: 2000);
    }

    [Fact]
    public void FloatRepr_MatchesTheReference_OnRandomDoubles()
    {
        AnyDouble.Sample(d => PythonText.FloatRepr(d) == ReferenceCanonical.FloatRepr(d) && PythonText.FloatStr(d) == ReferenceCanonical.FloatStr(d), iter: 20000);
    }

    [Theory]
    [InlineData(1e-4)]
    [InlineData(9.999999999999999e-5)]
    [InlineData(999999999999999.9)]
    [InlineData(999999999999999.0)]
    [InlineData(1e15)]
    [InlineData(0.30000000000000004)]
    [InlineData(1600000000.25)]
    [InlineData(-1600000000.0)]
    [InlineData(123456789012345.6)]
    [InlineData(0.1)]
    public void FloatRepr_MatchesTheReference_AtTheEdgesOfTheShortDecimalPath(double value)
    {
        Assert.Equal(ReferenceCanonical.FloatRepr(value), PythonText.FloatRepr(value));
    }

    [Fact]
    public void Strip_MatchesTheReference()
    {
        Text.Sample(s => PythonText.Strip(s) == ReferenceCanonical.Strip(s), iter: 5000);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void WriteEscaped_EqualsEscapingThatManyTimes(int depth)
    {
        Value(2).Sample(v =>
        {
            var canonical = Canonical.Of(v);
            var expected = canonical;
            for (var i = 0; i < depth; i++)
            {
                var dumped = ReferenceCanonical.Dumps(expected);
                expected = dumped[1..^1];
            }

            var sink = new Utf8Sink();
            CanonicalWriter.WriteEscaped(sink, System.Text.Encoding.ASCII.GetBytes(canonical), depth);
            var actual = System.Text.Encoding.ASCII.GetString(sink.Written);
            sink.Release();
            return actual == expected;
        }, iter: 1000);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void CompareEscaped_OrdersLikeTheUnescapedTexts(int depth)
    {
        var canonical = Gen.OneOf(Value(2).Select(Canonical.Of), Gen.String[Gen.Char["\"\\ab"], 0, 6].Select(ReferenceCanonical.Dumps));
        Gen.Select(canonical, canonical).Sample((a, b) =>
        {
            var ea = Escape(a, depth);
            var eb = Escape(b, depth);
            return Math.Sign(CanonicalWriter.CompareEscaped(ea, eb, 1 << depth)) == Math.Sign(string.CompareOrdinal(a, b)) &&
                Math.Sign(CanonicalWriter.CompareEscaped(ea, ea, 1 << depth)) == 0;
        }, iter: 3000);
    }

    private static byte[] Escape(string canonical, int depth)
    {
        var sink = new Utf8Sink();
        CanonicalWriter.WriteEscaped(sink, System.Text.Encoding.ASCII.GetBytes(canonical), depth);
        var bytes = sink.Written.ToArray();
        sink.Release();
        return bytes;
    }
}
