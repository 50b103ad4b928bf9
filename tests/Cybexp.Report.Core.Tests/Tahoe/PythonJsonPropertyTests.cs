using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;
using CsCheck;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>
/// <see cref="PythonJson"/> against <see cref="ReferencePythonJson"/> (the implementation it replaced) on random JSON
/// texts with the awkward cases: big ints, floats in every spelling (1e+16, -0.0, 1e-05, overflow), NaN and the
/// infinities, escapes of every kind, non-ASCII, surrogate pairs, lone surrogates, duplicate keys, whitespace, and
/// the same texts cut short or with one character changed. Both must give the same value (same entries in the same
/// order) or the same error message.
/// </summary>
public partial class PythonJsonPropertyTests
{
    [Fact]
    public void Parse_MatchesReference_OnRandomDocuments()
    {
        Gen.Int.Sample(seed =>
        {
            var text = RandomJson.Document(new Random(seed), newlines: true);
            return Same(text);
        }, iter: 4000);
    }

    [Fact]
    public void Parse_MatchesReference_OnTruncatedAndMutatedDocuments()
    {
        const string Replacements = "\"{}[],:\\ \n\t0-+.eE9xnNI\u0001\u00e9\ud800";
        Gen.Int.Sample(seed =>
        {
            var random = new Random(seed);
            var text = RandomJson.Document(random, newlines: true);
            var at = random.Next(text.Length + 1);
            text = random.Next(3) switch
            {
                0 => text[..at],
                1 when at < text.Length => string.Concat(text.AsSpan(0, at), Replacements[random.Next(Replacements.Length)].ToString(), text.AsSpan(at + 1)),
                _ => text.Insert(at, Replacements[random.Next(Replacements.Length)].ToString()),
            };
            return Same(text);
        }, iter: 6000);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("{\"a\": 1, \"a\": 2}")]
    [InlineData("{\"a\": {\"b\": 1, \"b\": [1, {\"c\": 1, \"c\": 2}]}, \"a\": 3}")]
    [InlineData("[1, 2")]
    [InlineData("{\"a\": \"\\ud800\\udc00\\ud800x\\udc00\"}")]
    [InlineData("{\"k\": 123456789012345678901234567890, \"f\": 1e400, \"g\": -1e-400, \"h\": 1E+16}")]
    [InlineData("{\"k\": \"unterminated")]
    [InlineData("{\"k\": \"bad \\x escape\"}")]
    [InlineData("{\"k\": \"\\u12\"}")]
    [InlineData("{\"k\": 1.}")]
    [InlineData("{\"k\": 1e}")]
    [InlineData("{\"k\": -}")]
    [InlineData("{\"k\": -Inf}")]
    [InlineData("{\"k\": nul")]
    [InlineData("{\"k\": \"tab\there\"}")]
    [InlineData("1 2")]
    public void Parse_MatchesReference_OnEdgeCases(string text) => Assert.True(Same(text), text);

    [Fact]
    public void Parse_MatchesReference_ForManyKeys()
    {
        // More keys than the parser compares one by one, with a duplicate late in the object.
        var keys = Enumerable.Range(0, 40).Select(i => $"\"k{i}\": {i}").ToList();
        keys.Add("\"k3\": \"again\"");
        Assert.True(Same("{" + string.Join(", ", keys) + "}"));
    }

    [Fact]
    public void Parse_RejectsNestingDeeperThanTheLimit_AsTheReferenceDoes()
    {
        Assert.True(Same(new string('[', PythonJson.MaxDepth + 2) + new string(']', PythonJson.MaxDepth + 2)));
        Assert.True(Same(new string('[', PythonJson.MaxDepth) + new string(']', PythonJson.MaxDepth)));
    }

    [Fact]
    public void Parse_OfASpan_EqualsParseOfTheString()
    {
        Gen.Int.Sample(seed =>
        {
            var text = RandomJson.Document(new Random(seed), newlines: true);
            var padded = "xx" + text + "yy";
            var fromString = PythonJson.TryParse(text, DuplicateKeys.Reject, out var a, out var errorA);
            var fromSpan = PythonJson.TryParse(padded.AsSpan(2, text.Length), DuplicateKeys.Reject, out var b, out var errorB);
            return fromString == fromSpan && errorA == errorB && Identical(a, b);
        }, iter: 500);
    }

    [Fact]
    public async Task Reader_MatchesReference_OnRandomNdjson()
    {
        // Documents long enough to outgrow the reader's first buffer and to cross its 16 Ki-character chunks.
        for (var seed = 0; seed < 40; seed++)
        {
            var random = new Random(seed);
            var lines = new List<string>();
            for (var i = 0; i < 30; i++)
            {
                var line = RandomJson.Document(random, newlines: false);
                if (random.Next(4) == 0)
                {
                    var open = line.IndexOf('{', StringComparison.Ordinal) + 1;
                    var empty = line.AsSpan(open).TrimStart(" \t").StartsWith("}", StringComparison.Ordinal);
                    var pad = "\"pad\": \"" + new string('p', random.Next(100, 40_000)) + "\"" + (empty ? string.Empty : ", ");
                    line = line.Insert(open, pad);
                }

                lines.Add(line);
            }

            var records = new List<TahoeDocumentRecord>();
            await foreach (var r in TahoeDocumentReader.ReadAsync(new StringReader(string.Join("\n", lines) + "\n")))
            {
                records.Add(r);
            }

            Assert.Equal(lines.Count, records.Count);
            for (var i = 0; i < lines.Count; i++)
            {
                Assert.Equal(i + 1, records[i].Line);
                if (ReferencePythonJson.TryParse(lines[i], DuplicateKeys.Reject, out var expected, out var error))
                {
                    Assert.True(records[i].Error is null, records[i].Error);
                    Assert.True(Identical(expected, records[i].Document!), lines[i]);
                }
                else
                {
                    var m = ParserPosition().Match(error);
                    Assert.True(m.Success, error);
                    Assert.Equal($"line {i + 1}: invalid JSON at column {m.Groups[2].Value}: {m.Groups[3].Value}", records[i].Error);
                }
            }
        }
    }

    // Both modes: same success, same error, same value with the same entry order.
    private static bool Same(string text)
    {
        foreach (var mode in (DuplicateKeys[])[DuplicateKeys.Reject, DuplicateKeys.LastWins])
        {
            var expectedOk = ReferencePythonJson.TryParse(text, mode, out var expected, out var expectedError);
            var ok = PythonJson.TryParse(text, mode, out var actual, out var error);
            if (ok != expectedOk || error != expectedError || !Identical(expected, actual))
            {
                return false;
            }
        }

        return true;
    }

    // Equal values whose dicts also list their keys in the same order.
    private static bool Identical(TahoeValue a, TahoeValue b) =>
        a.Equals(b) && TahoeJsonWriter.Write(a) == TahoeJsonWriter.Write(b);

    [GeneratedRegex(@"^invalid JSON at line (\d+) column (\d+): (.*)$", RegexOptions.Singleline)]
    private static partial Regex ParserPosition();

    /// <summary>Random JSON texts: a document (an object) whose values are spelled in every way JSON allows.</summary>
    internal static class RandomJson
    {
        private static readonly string[] Keys = ["itype", "data", "sub_type", "_hash", "_ref", "a", "b", "é", "\ud83d\ude00", "k\"q", ""];

        private static readonly string[] Floats =
        [
            "1e+16", "1E16", "1e16", "-0.0", "0.0", "1e-05", "1E-5", "0.0001", "1.5e-07", "100.0", "1e400", "-1e400",
            "1e-400", "1636123456.0", "1.2345678901234568e+17", "NaN", "Infinity", "-Infinity", "2.5", "-3.25e2",
        ];

        public static string Document(Random random, bool newlines)
        {
            var sb = new StringBuilder();
            Space(sb, random, newlines);
            Object(sb, random, 3, newlines);
            Space(sb, random, newlines);
            return sb.ToString();
        }

        private static void Value(StringBuilder sb, Random random, int depth, bool newlines)
        {
            switch (random.Next(depth > 0 ? 10 : 8))
            {
                case 0: sb.Append(random.Next(3) switch { 0 => "null", 1 => "true", _ => "false" }); break;
                case 1: sb.Append(random.NextInt64(long.MinValue, long.MaxValue).ToString(CultureInfo.InvariantCulture)); break;
                case 2: sb.Append(random.Next(-1000, 1000).ToString(CultureInfo.InvariantCulture)); break;
                case 3:
                    var big = BigInteger.Pow(10, random.Next(18, 40)) + random.NextInt64();
                    sb.Append((random.Next(2) == 0 ? -big : big).ToString(CultureInfo.InvariantCulture));
                    break;
                case 4: sb.Append(Floats[random.Next(Floats.Length)]); break;
                case 5: sb.Append(random.NextDouble().ToString("R", CultureInfo.InvariantCulture)); break;
                case 6 or 7: String(sb, random, RandomText(random)); break;
                case 8: Object(sb, random, depth - 1, newlines); break;
                default: Array(sb, random, depth - 1, newlines); break;
            }
        }

        private static void Object(StringBuilder sb, Random random, int depth, bool newlines)
        {
            sb.Append('{');
            var n = random.Next(0, 7);
            for (var i = 0; i < n; i++)
            {
                if (i > 0)
                {
                    sb.Append(',');
                }

                Space(sb, random, newlines);
                String(sb, random, random.Next(3) == 0 ? RandomText(random) : Keys[random.Next(Keys.Length)]);
                Space(sb, random, newlines);
                sb.Append(':');
                Space(sb, random, newlines);
                Value(sb, random, depth, newlines);
                Space(sb, random, newlines);
            }

            sb.Append('}');
        }

        private static void Array(StringBuilder sb, Random random, int depth, bool newlines)
        {
            sb.Append('[');
            var n = random.Next(0, 6);
            for (var i = 0; i < n; i++)
            {
                if (i > 0)
                {
                    sb.Append(',');
                }

                Space(sb, random, newlines);
                Value(sb, random, depth, newlines);
                Space(sb, random, newlines);
            }

            sb.Append(']');
        }

        private static void Space(StringBuilder sb, Random random, bool newlines)
        {
            var n = random.Next(4) == 0 ? random.Next(1, 4) : 0;
            for (var i = 0; i < n; i++)
            {
                sb.Append(random.Next(newlines ? 4 : 2) switch { 0 => ' ', 1 => '\t', 2 => '\n', _ => '\r' });
            }
        }

        private static string RandomText(Random random)
        {
            var sb = new StringBuilder();
            var n = random.Next(0, random.Next(2) == 0 ? 8 : 90);
            for (var i = 0; i < n; i++)
            {
                sb.Append(random.Next(10) switch
                {
                    < 5 => (char)random.Next('a', 'z' + 1),
                    5 => (char)random.Next(0, 0x80),
                    6 => (char)random.Next(0x80, 0x800),
                    7 => "\ud83d\ude00",
                    8 => (char)random.Next(0xd800, 0xe000), // a lone surrogate (or, by chance, half a pair)
                    _ => (char)random.Next(0, 0x10000),
                });
            }

            return sb.ToString();
        }

        // A JSON string literal: each character raw where JSON allows, or escaped in one of the ways it allows.
        private static void String(StringBuilder sb, Random random, string text)
        {
            sb.Append('"');
            foreach (var c in text)
            {
                var mustEscape = c is '"' or '\\' || c < ' ';
                switch (mustEscape || random.Next(6) == 0 ? random.Next(3) : 3)
                {
                    case 0:
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        break;
                    case 1:
                        sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                        break;
                    case 2:
                        sb.Append(c switch
                        {
                            '"' => "\\\"",
                            '\\' => "\\\\",
                            '/' => "\\/",
                            '\b' => "\\b",
                            '\f' => "\\f",
                            '\n' => "\\n",
                            '\r' => "\\r",
                            '\t' => "\\t",
                            _ => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
                        });
                        break;
                    default:
                        sb.Append(c);
                        break;
                }
            }

            sb.Append('"');
        }
    }
}
