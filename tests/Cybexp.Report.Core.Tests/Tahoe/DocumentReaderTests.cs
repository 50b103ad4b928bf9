using System.Globalization;
using System.Text;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

// Not run beside other tests: the memory check reads the process-wide heap size.
[CollectionDefinition(nameof(DocumentReaderTests), DisableParallelization = true)]
public class DocumentReaderCollection;

[Collection(nameof(DocumentReaderTests))]
public class DocumentReaderTests
{
    private const string Hash1 = "4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6";

    private static async Task<List<TahoeDocumentRecord>> ReadAll(TextReader reader, int max = TahoeDocumentReader.DefaultMaxDocumentChars)
    {
        var records = new List<TahoeDocumentRecord>();
        await foreach (var r in TahoeDocumentReader.ReadAsync(reader, max, CancellationToken.None))
        {
            records.Add(r);
        }

        return records;
    }

    private static Task<List<TahoeDocumentRecord>> ReadAll(string text, int max = TahoeDocumentReader.DefaultMaxDocumentChars) =>
        ReadAll(new StringReader(text), max);

    private static TahoeDict Doc(TahoeDocumentRecord r)
    {
        Assert.True(r.Error is null, $"unexpected error: {r.Error}");
        return Assert.IsType<TahoeDict>(r.Document);
    }

    private static string Error(TahoeDocumentRecord r)
    {
        Assert.Null(r.Document);
        return Assert.IsType<string>(r.Error);
    }

    [Fact]
    public async Task SingleDocument_IsReadWithItsFieldsInOrder()
    {
        var records = await ReadAll($"{{\"itype\": \"attribute\", \"data\": \"1.1.1.1\", \"sub_type\": \"ipv4\", \"_hash\": \"{Hash1}\"}}");

        var r = Assert.Single(records);
        Assert.Equal(1, r.Line);
        Assert.False(r.EndsSource);
        Assert.Equal(["itype", "data", "sub_type", "_hash"], Doc(r).Entries.Select(e => e.Key));
        Assert.Equal(TahoeValue.String("1.1.1.1"), Doc(r)["data"]);
    }

    [Fact]
    public async Task Ndjson_YieldsOneDocumentPerLine_SkippingBlankLines()
    {
        var records = await ReadAll("{\"n\": 1}\n\n{\"n\": 2}\r\n   \n{\"n\": 3}\n");

        Assert.Equal([1L, 3L, 5L], records.Select(r => r.Line));
        Assert.Equal([1, 2, 3], records.Select(r => (int)((TahoeInt)Doc(r)["n"]!).Int64));
    }

    [Fact]
    public async Task PrettyPrintedArray_YieldsEachElementWithTheLineItStartsOn()
    {
        const string text = """
            [
              {
                "n": 1,
                "data": {"k": [{"x": [1, 2]}, "]},{["]}
              },
              {"n": 2},
              {
                "n": 3
              }
            ]
            """;
        var records = await ReadAll(text);

        Assert.Equal([2L, 6L, 7L], records.Select(r => r.Line));
        Assert.Equal(TahoeValue.String("]},{["), ((TahoeDict)Doc(records[0])["data"]!)["k"]!.AsList[1]);
    }

    [Fact]
    public async Task EmptyArray_YieldsNothing()
    {
        Assert.Empty(await ReadAll("[]\n[ ]"));
    }

    [Fact]
    public async Task ConcatenatedPrettyDocuments_AreSplitAtTheirClosingBrace()
    {
        const string text = """
            {
              "n": 1,
              "data": {
                "org": [
                  {
                    "name": ["a \"quoted\" {brace"]
                  }
                ]
              }
            }
            {
              "n": 2
            }{"n": 3}
            """;
        var records = await ReadAll(text);

        Assert.Equal([1L, 11L, 13L], records.Select(r => r.Line));
        Assert.All(records, r => Doc(r));
    }

    [Fact]
    public async Task MongoExport_DropsOid_AndUnwrapsNumbersKeepingIntAndFloatApart()
    {
        const string line = """{"_id":{"$oid":"5f1b2c3d4e5f6a7b8c9d0e1f"},"big":{"$numberLong":"123456789012345678901"},"small":{"$numberInt":"5"},"one":{"$numberDouble":"1.0"},"nan":{"$numberDouble":"NaN"},"inf":{"$numberDouble":"-Infinity"},"list":[{"$numberLong":"7"}]}""";
        var records = await ReadAll(line + "\n" + line + "\n");

        Assert.Equal(2, records.Count);
        var doc = Doc(records[1]);
        Assert.Equal(2, records[1].Line);
        Assert.False(doc.ContainsKey("_id"));
        Assert.Equal(System.Numerics.BigInteger.Parse("123456789012345678901", CultureInfo.InvariantCulture), Assert.IsType<TahoeInt>(doc["big"]).Value);
        Assert.Equal(TahoeValue.Int(5), doc["small"]);
        Assert.Equal(TahoeValue.Float(1.0), doc["one"]);
        Assert.NotEqual(TahoeValue.Int(1), doc["one"]);
        Assert.True(double.IsNaN(Assert.IsType<TahoeFloat>(doc["nan"]).Value));
        Assert.Equal(double.NegativeInfinity, Assert.IsType<TahoeFloat>(doc["inf"]).Value);
        Assert.Equal(TahoeValue.List(TahoeValue.Int(7)), doc["list"]);
    }

    [Fact]
    public async Task MongoExport_BadNumberWrapper_IsAnErrorForThatDocumentOnly()
    {
        var records = await ReadAll("{\"a\": {\"$numberLong\": \"1.5\"}}\n{\"b\": 1}\n");

        Assert.Contains("line 1:", Error(records[0]), StringComparison.Ordinal);
        Assert.Contains("$numberLong", Error(records[0]), StringComparison.Ordinal);
        Assert.Equal(TahoeValue.Int(1), Doc(records[1])["b"]);
    }

    [Fact]
    public async Task PlainNumbers_KeepIntAndFloatDistinct()
    {
        var doc = Doc(Assert.Single(await ReadAll("{\"i\": 1, \"f\": 1.0, \"e\": 1e2, \"nan\": NaN}")));

        Assert.IsType<TahoeInt>(doc["i"]);
        Assert.IsType<TahoeFloat>(doc["f"]);
        Assert.Equal(TahoeValue.Float(100.0), doc["e"]);
        Assert.True(double.IsNaN(((TahoeFloat)doc["nan"]!).Value));
    }

    [Fact]
    public async Task CorruptLine_IsReportedWithLineAndColumn_AndTheNextLineIsRead()
    {
        var records = await ReadAll("{\"a\": 1}\n{\"a\": 1 \"b\": 2}\n{\"a\": 3}\n");

        Assert.Equal(3, records.Count);
        Assert.Equal(2, records[1].Line);
        Assert.Equal("line 2: invalid JSON at column 9: expected ',' or '}' in an object", Error(records[1]));
        Assert.False(records[1].EndsSource);
        Assert.Equal(TahoeValue.Int(3), Doc(records[2])["a"]);
    }

    [Fact]
    public async Task MismatchedBracketInALine_IsReported_AndReadingResumesAtTheNextLine()
    {
        var records = await ReadAll("{\"a\": [1, 2}, \"b\": {\"c\": 1}}\n{\"a\": 3}\n");

        Assert.Equal(2, records.Count);
        Assert.Equal("line 1: invalid JSON at column 12: expected ',' or ']' in an array", Error(records[0]));
        Assert.Equal(2, records[1].Line);
        Assert.Equal(TahoeValue.Int(3), Doc(records[1])["a"]);
    }

    [Fact]
    public async Task LineCutInsideAString_IsReportedAsTruncated_AndTheNextLineIsRead()
    {
        var records = await ReadAll("{\"a\": \"abc\n{\"a\": 2}\n");

        Assert.Equal(2, records.Count);
        Assert.StartsWith("line 1: invalid JSON at column 11: the line ends inside a string", Error(records[0]), StringComparison.Ordinal);
        Assert.Equal(TahoeValue.Int(2), Doc(records[1])["a"]);
    }

    [Fact]
    public async Task LineCutOutsideAString_IsReportedAsTruncated_WhenTheNextDocumentStarts()
    {
        var records = await ReadAll("{\"a\": 1,\n{\"a\": 2}\n");

        Assert.Equal(2, records.Count);
        Assert.Equal("line 1: the document is truncated (a new document starts at line 2 before this one is closed)", Error(records[0]));
        Assert.Equal(2, records[1].Line);
        Assert.Equal(TahoeValue.Int(2), Doc(records[1])["a"]);
    }

    [Fact]
    public async Task TruncatedLastLine_IsReportedAsTruncated()
    {
        var records = await ReadAll("{\"a\": 1}\n{\"a\": [1, 2");

        Assert.Equal(2, records.Count);
        Assert.Equal("line 2: the document is truncated (the input ends before it is closed)", Error(records[1]));
        Assert.False(records[1].EndsSource);
    }

    [Fact]
    public async Task DuplicateKey_IsAnError_NamingTheKeyLineAndColumn()
    {
        var records = await ReadAll("{\"a\": 1}\n\n{\"a\":1,\"a\":2}\n{\"b\": {\"x\": 1, \"x\": 1}}\n");

        Assert.Equal("line 3: invalid JSON at column 8: duplicate key \"a\"", Error(records[1]));
        Assert.Equal("line 4: invalid JSON at column 16: duplicate key \"x\"", Error(records[2]));
    }

    [Fact]
    public async Task ErrorOnALaterLineOfAPrettyDocument_NamesThatLine()
    {
        const string text = "{\"ok\": 1}\n{\n  \"a\": 1,\n  \"b\": tru\n}\n{\"ok\": 2}\n";
        var records = await ReadAll(text);

        Assert.Equal(3, records.Count);
        Assert.Equal(2, records[1].Line);
        Assert.Equal("line 4: invalid JSON at column 8: unexpected character 't'", Error(records[1]));
        Assert.Equal(6, records[2].Line);
    }

    [Theory]
    [InlineData("5", "an int")]
    [InlineData("\"text\"", "a string")]
    [InlineData("null", "null")]
    [InlineData("[[1, 2]]", "a list")]
    [InlineData("[1.5]", "a float")]
    public async Task NonObject_IsReportedAsNotADocument(string text, string kind)
    {
        var records = await ReadAll("{\"a\": 1}\n" + text + "\n{\"a\": 2}\n");

        Assert.Equal(3, records.Count);
        Assert.Equal($"line 2: a document must be a JSON object, got {kind}", Error(records[1]));
        Assert.Equal(3, records[2].Line);
    }

    [Fact]
    public async Task StrayTextAtTheTopLevel_IsReported_AndTheNextLineIsRead()
    {
        var records = await ReadAll("{\"a\": 1}}\n{\"a\": 2}\n");

        Assert.Equal(3, records.Count);
        Assert.Equal("line 1: invalid JSON at column 9: unexpected character '}'", Error(records[1]));
        Assert.Equal(TahoeValue.Int(2), Doc(records[2])["a"]);
    }

    [Fact]
    public async Task OverLongDocument_IsReported_AndReadingGoesOn()
    {
        var longDoc = "{\"a\": \"" + new string('x', 200) + "\"}";
        var records = await ReadAll("{\"a\": 1}\n" + longDoc + "\n{\"a\": 3}\n", max: 100);

        Assert.Equal(3, records.Count);
        Assert.Equal("line 2: the document is longer than 100 characters; skipped", Error(records[1]));
        Assert.Equal(TahoeValue.Int(3), Doc(records[2])["a"]);
    }

    [Fact]
    public async Task InvalidArrayElement_IsReported_AndTheNextElementIsRead()
    {
        var records = await ReadAll("[{\"a\": 1 \"b\": 2},\n {\"a\": 2}]");

        Assert.Equal(2, records.Count);
        Assert.Equal("line 1: invalid JSON at column 10: expected ',' or '}' in an object", Error(records[0]));
        Assert.False(records[0].EndsSource);
        Assert.Equal(2, records[1].Line);
        Assert.Equal(TahoeValue.Int(2), Doc(records[1])["a"]);
    }

    [Fact]
    public async Task MismatchedBracketInsideAnArray_EndsTheSource()
    {
        var records = await ReadAll("[\n{\"a\": 1},\n{\"b\": [1}},\n{\"c\": 2}\n]\n{\"d\": 3}");

        Assert.Equal(2, records.Count);
        Assert.Equal(TahoeValue.Int(1), Doc(records[0])["a"]);
        Assert.True(records[1].EndsSource);
        Assert.Equal(3, records[1].Line);
        Assert.StartsWith("line 3: invalid JSON at column 9: expected ',' or ']' in an array", Error(records[1]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ArrayThatIsNeverClosed_EndsTheSource()
    {
        var records = await ReadAll("[\n{\"a\": 1},\n{\"b\": 2");

        Assert.Equal(2, records.Count);
        Assert.True(records[1].EndsSource);
        Assert.Equal("line 3: the input ends inside the JSON array opened at line 1 (truncated)", Error(records[1]));
    }

    [Fact]
    public async Task TrailingCommaInAnArray_IsReported()
    {
        var records = await ReadAll("[{\"a\": 1},\n]");

        Assert.Equal(2, records.Count);
        Assert.Equal("line 2: invalid JSON at column 1: expected a document after ',' in the array", Error(records[1]));
    }

    [Fact]
    public async Task ByteOrderMark_IsSkipped()
    {
        var r = Assert.Single(await ReadAll("\uFEFF{\"a\": 1}"));
        Assert.Equal(TahoeValue.Int(1), Doc(r)["a"]);
    }

    [Fact]
    public async Task ChunkBoundaries_DoNotChangeTheResult()
    {
        const string text = "[{\"a\": \"x\\\"]\"},\n{\"b\": [1, {\"c\": 2}]}]\n{\"d\": 1 \"e\"}\n{\n  \"f\": 1.5\n}\n{\"g\": \"cut\n{\"h\": 1,\n{\"i\": 1}";
        var whole = await ReadAll(text);
        var trickled = await ReadAll(new TrickleReader(text));

        Assert.Equal(7, whole.Count);
        Assert.Equal(whole, trickled);
    }

    [Fact]
    public async Task GeneratedStreamOf200kDocuments_IsReadWithBoundedMemory()
    {
        const int count = 200_000;
        using var source = new GeneratedNdjson(count);
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        long n = 0;
        await foreach (var r in TahoeDocumentReader.ReadAsync(source, CancellationToken.None))
        {
            n++;
            Assert.Null(r.Error);
            Assert.Equal(n, r.Line);
            if (n % 50_000 == 0)
            {
                Assert.Equal(TahoeValue.Int(n - 1), r.Document!["n"]);
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
            }
        }

        Assert.Equal(count, n);
        Assert.True(source.CharsProduced > 30_000_000, $"the stream is large ({source.CharsProduced} chars)");

        // Holding the text would take about twice CharsProduced bytes; the reader keeps one chunk and one document.
        Assert.True(peak - baseline < 16_000_000, $"memory grew by {peak - baseline} bytes");
    }

    /// <summary>Hands out the text one or two characters at a time.</summary>
    private sealed class TrickleReader(string text) : TextReader
    {
        private int _pos;

        public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

        public override int Read(Span<char> buffer)
        {
            var n = Math.Min(Math.Min(buffer.Length, 1 + (_pos % 2)), text.Length - _pos);
            text.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }

    /// <summary>Produces NDJSON documents on demand; never holds more than one line.</summary>
    private sealed class GeneratedNdjson(int count) : TextReader
    {
        private static readonly string Padding = new('x', 160);
        private readonly StringBuilder _line = new();
        private int _next;
        private int _pos;

        public long CharsProduced { get; private set; }

        public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

        public override int Read(Span<char> buffer)
        {
            var written = 0;
            while (written < buffer.Length)
            {
                if (_pos == _line.Length)
                {
                    if (_next == count)
                    {
                        break;
                    }

                    _line.Clear();
                    // Cheap to parse but long, so that holding the text would show: about 175 characters a line.
                    _line.Append(CultureInfo.InvariantCulture, $"{{\"n\": {_next}, \"data\": \"{Padding}\"}}\n");
                    _next++;
                    _pos = 0;
                }

                var n = Math.Min(buffer.Length - written, _line.Length - _pos);
                _line.CopyTo(_pos, buffer.Slice(written, n), n);
                _pos += n;
                written += n;
            }

            CharsProduced += written;
            return written;
        }

        public override ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }
}
