using System.Globalization;
using System.Text;
using Cybexp.Report.Core.Crypto;
using CsCheck;

namespace Cybexp.Report.Core.Tests.Crypto;

public sealed class PythonBytesLiteralTests
{
    // Python 3: repr(bytes(range(256)))
    private const string AllBytesRepr = """
        b'\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff'
        """;

    private static readonly byte[] AllBytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();

    [Fact]
    public void Format_OfEveryByteValue_IsPythonsRepr() =>
        Assert.Equal(AllBytesRepr, PythonBytesLiteral.Format(AllBytes));

    [Fact]
    public void Parse_OfPythonsReprOfEveryByteValue_GivesTheBytes()
    {
        var result = PythonBytesLiteral.Parse(AllBytesRepr);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(AllBytes, result.Value);
    }

    [Theory]
    [InlineData("", "b''")]
    [InlineData("'", "b\"'\"")]
    [InlineData("\"", "b'\"'")]
    [InlineData("'\"", "b'\\'\"'")]
    [InlineData("it's", "b\"it's\"")]
    [InlineData("a\\b", "b'a\\\\b'")]
    [InlineData("tab\there\r\n", "b'tab\\there\\r\\n'")]
    public void Format_ChoosesQuotesAndEscapesLikePython(string latin1, string expected) =>
        Assert.Equal(expected, PythonBytesLiteral.Format(Encoding.Latin1.GetBytes(latin1)));

    [Theory]
    [InlineData("b''", "")]
    [InlineData("b\"\"", "")]
    [InlineData("b\"it's\"", "69742773")]
    [InlineData("b'\\'\"'", "2722")]
    [InlineData("b'\\a\\b\\f\\v\\0\\7\\77\\377\\x4A\\x4a'", "07080c0b00073fff4a4a")]
    [InlineData("b'ab\\\ncd'", "61626364")]
    [InlineData("b'ab\\\r\ncd'", "61626364")]
    [InlineData("b'\\0012'", "0132")]
    [InlineData("b'tab\there'", "7461620968657265")]
    public void Parse_AcceptsTheEscapesPythonAccepts(string text, string expectedHex)
    {
        var result = PythonBytesLiteral.Parse(text);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(expectedHex, Convert.ToHexStringLower(result.Value));
    }

    [Theory]
    [InlineData("", 0, "expected 'b'")]
    [InlineData("'abc'", 0, "expected 'b'")]
    [InlineData("rb'abc'", 0, "expected 'b'")]
    [InlineData(" b'abc'", 0, "expected 'b'")]
    [InlineData("b", 1, "expected a quote")]
    [InlineData("bx'", 1, "expected a quote")]
    [InlineData("b'abc", 5, "unterminated")]
    [InlineData("b\"abc'", 6, "unterminated")]
    [InlineData("b'abc\\'", 7, "unterminated")]
    [InlineData("b'abc\\", 6, "unterminated")]
    [InlineData("b'ab\ncd'", 4, "line break")]
    [InlineData("b'caf\u00e9'", 5, "non-ASCII character U+00E9")]
    [InlineData("b'\u65e5'", 2, "non-ASCII")]
    [InlineData("b'\\xg0'", 4, "two hex digits after \\x, found 'g'")]
    [InlineData("b'\\x4'", 5, "two hex digits")]
    [InlineData("b'\\x4", 5, "two hex digits after \\x, found the end")]
    [InlineData("b'\\x'", 4, "two hex digits")]
    [InlineData("b'\\q'", 3, "unsupported escape character 'q'")]
    [InlineData("b'\\u00e9'", 3, "unsupported escape")]
    [InlineData("b'\\400'", 2, "out of range")]
    [InlineData("b'a\u0001'", 3, "control character U+0001")]
    [InlineData("b'a' b'b'", 4, "expected the end of the text")]
    [InlineData("b'a'\n", 4, "expected the end of the text")]
    public void Parse_RejectsMalformedTextNamingThePosition(string text, int position, string expected)
    {
        var result = PythonBytesLiteral.Parse(text);

        Assert.False(result.IsSuccess);
        Assert.StartsWith($"position {position}: ", result.Error, StringComparison.Ordinal);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void FormatThenParse_RoundTripsArbitraryBytes() =>
        Gen.Byte.Array[0, 600].Sample(bytes =>
        {
            var parsed = PythonBytesLiteral.Parse(PythonBytesLiteral.Format(bytes));
            return parsed.IsSuccess && parsed.Value.AsSpan().SequenceEqual(bytes);
        });

    [Fact]
    public void FormatThenParse_RoundTripsTenMegabytes()
    {
        // A stored blob can be large; both directions must stay linear.
        var bytes = new byte[10 * 1024 * 1024];
        new Random(20210729).NextBytes(bytes);

        string text = PythonBytesLiteral.Format(bytes);
        var parsed = PythonBytesLiteral.Parse(text);

        Assert.True(parsed.IsSuccess, parsed.IsSuccess ? "" : parsed.Error);
        Assert.True(parsed.Value.AsSpan().SequenceEqual(bytes));
    }

    [Fact]
    public void Format_AgreesWithAByteTableReference() =>
        Gen.Byte.Array[0, 200].Sample(bytes => PythonBytesLiteral.Format(bytes) == ReferenceRepr(bytes));

    [Fact]
    public void Parse_NeverThrows_AndWhatItAcceptsFormatsBackToTheSameBytes()
    {
        // Texts built from the characters that matter to the grammar, plus some that must be refused.
        var pieces = Gen.OneOf<string>("a", "'", "\"", "\\", "x", "0", "7", "9", "f", "G", "n", "\n", "\r", "\t", "\u00e9", "\u0001", " ");
        var body = pieces.Array[0, 12].Select(parts => string.Concat(parts));
        var text = Gen.Select(Gen.OneOf<string>("b'", "b\"", "b", "", "B'"), body, Gen.OneOf<string>("'", "\"", ""), (p, b, s) => p + b + s);
        text.Sample(t =>
        {
            var parsed = PythonBytesLiteral.Parse(t);
            if (!parsed.IsSuccess)
            {
                return parsed.Error.StartsWith("position ", StringComparison.Ordinal);
            }

            var again = PythonBytesLiteral.Parse(PythonBytesLiteral.Format(parsed.Value));
            return again.IsSuccess && again.Value.AsSpan().SequenceEqual(parsed.Value);
        });
    }

    /// <summary>Python's rule written as a lookup per byte, independent of the production code's switch.</summary>
    private static string ReferenceRepr(byte[] bytes)
    {
        char quote = Array.IndexOf(bytes, (byte)'\'') >= 0 && Array.IndexOf(bytes, (byte)'"') < 0 ? '"' : '\'';
        var special = new Dictionary<byte, string>
        {
            [(byte)'\\'] = @"\\",
            [(byte)'\t'] = @"\t",
            [(byte)'\n'] = @"\n",
            [(byte)'\r'] = @"\r",
            [(byte)quote] = "\\" + quote,
        };
        var text = new StringBuilder("b").Append(quote);
        foreach (byte b in bytes)
        {
            text.Append(special.TryGetValue(b, out string? escaped)
                ? escaped
                : b is >= 0x20 and < 0x7f ? ((char)b).ToString() : "\\x" + b.ToString("x2", CultureInfo.InvariantCulture));
        }

        return text.Append(quote).ToString();
    }
}
