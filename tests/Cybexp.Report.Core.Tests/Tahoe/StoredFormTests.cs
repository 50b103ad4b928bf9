using System.Text;
using CsCheck;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>
/// The reader keeps a document's own text as its stored text when the text is already in stored form
/// (<see cref="TahoeJsonWriter.Write"/>), and ingest's archive form holds that text instead of the parsed document.
/// Whenever the text is kept it must be byte for byte what the writer would have written.
/// </summary>
public class StoredFormTests
{
    private const string Hash1 = "4469d1e06fdd2b03ce89abf4dcc354df0be231b97e7293fe1750232d2d3b23a6";

    [Fact]
    public void Verbatim_Implies_WriterText_OnRandomTexts()
    {
        Gen.Int.Sample(seed =>
        {
            var text = PythonJsonPropertyTests.RandomJson.Document(new Random(seed), newlines: true);
            return !PythonJson.TryParse(text, DuplicateKeys.LastWins, out var value, out _, out var verbatim)
                   || !verbatim || text == TahoeJsonWriter.Write(value);
        }, iter: 6000);
    }

    [Fact]
    public void WriterText_IsVerbatim_UnlessItEscapesOrHoldsCharactersTheParserCannotVouchFor()
    {
        var verbatimCount = 0;
        Gen.Int.Sample(seed =>
        {
            var random = new Random(seed);
            var source = PythonJsonPropertyTests.RandomJson.Document(random, newlines: true);
            if (!PythonJson.TryParse(source, DuplicateKeys.LastWins, out var value, out _))
            {
                return true;
            }

            var written = TahoeJsonWriter.Write(value);
            Assert.True(PythonJson.TryParse(written, DuplicateKeys.Reject, out var back, out _, out var verbatim));
            var expected = !written.Contains('\\', StringComparison.Ordinal) && !HasCharactersTheWriterEscapes(written);
            verbatimCount += verbatim ? 1 : 0;
            return verbatim == expected && (!verbatim || written == TahoeJsonWriter.Write(back));
        }, iter: 4000, threads: 1);
        Assert.True(verbatimCount > 500, $"only {verbatimCount} writer texts were found verbatim");
    }

    [Fact]
    public void Verbatim_Implies_WriterText_OnMutatedWriterTexts()
    {
        const string Replacements = "\"{}[],:\\ \n0-+.eE9xnNI\u007f\u00e9\u2028\ud800";
        Gen.Int.Sample(seed =>
        {
            var random = new Random(seed);
            if (!PythonJson.TryParse(PythonJsonPropertyTests.RandomJson.Document(random, newlines: false), DuplicateKeys.LastWins, out var value, out _))
            {
                return true;
            }

            var text = TahoeJsonWriter.Write(value);
            var at = random.Next(text.Length + 1);
            text = random.Next(2) == 0 && at < text.Length
                ? string.Concat(text.AsSpan(0, at), Replacements[random.Next(Replacements.Length)].ToString(), text.AsSpan(at + 1))
                : text.Insert(at, Replacements[random.Next(Replacements.Length)].ToString());
            return !PythonJson.TryParse(text, DuplicateKeys.LastWins, out var parsed, out _, out var verbatim)
                   || !verbatim || text == TahoeJsonWriter.Write(parsed);
        }, iter: 6000);
    }

    [Theory]
    [InlineData("{\"a\":1}", true)]
    [InlineData("{\"a\":-0}", false)]
    [InlineData("{\"a\":-0.0}", true)]
    [InlineData("{\"a\":1.50}", false)]
    [InlineData("{\"a\":1E16}", false)]
    [InlineData("{\"a\":1e+16}", true)]
    [InlineData("{\"a\":1e400}", false)]
    [InlineData("{\"a\":NaN}", false)]
    [InlineData("{\"a\":[Infinity]}", false)]
    [InlineData("{\"a\": 1}", false)]
    [InlineData("{\"a\":1} ", false)]
    [InlineData("{\"a\":\"x\\/y\"}", false)]
    [InlineData("{\"a\":\"x\\\"y\"}", false)]
    [InlineData("{\"a\":\"x\u007fy\"}", false)]
    [InlineData("{\"a\":\"x\u2028y\"}", false)]
    [InlineData("{\"a\":\"\ud83d\ude00\"}", false)]
    [InlineData("{\"\u00e9\":\"\u00e9\"}", true)]
    [InlineData("{\"a\":1,\"a\":2}", false)]
    [InlineData("{\"a\":{},\"b\":[],\"c\":[null,true,false,123456789012345678901234567890]}", true)]
    public void Verbatim_OnEdgeCases(string text, bool verbatim)
    {
        Assert.True(PythonJson.TryParse(text, DuplicateKeys.LastWins, out var value, out _, out var found));
        Assert.Equal(verbatim, found);
        Assert.True(!found || text == TahoeJsonWriter.Write(value));
    }

    [Theory]
    [InlineData("{\"itype\":\"attribute\",\"data\":\"x\",\"sub_type\":\"ipv4\",\"_hash\":\"H\"}", true)]
    [InlineData("{\"_id\":{\"$oid\":\"5f1b\"},\"itype\":\"attribute\",\"data\":\"x\",\"_hash\":\"H\"}", true)]
    [InlineData("{\"_id\":\"only\"}", true)]
    [InlineData("{\"_id\":{\"$oid\":\"5f1b\"}, \"itype\":\"attribute\"}", false)]
    [InlineData("{\"itype\":\"attribute\",\"_id\":1,\"data\":\"x\"}", false)]
    [InlineData("{\"itype\":\"event\",\"timestamp\":{\"$numberDouble\":\"1.5\"}}", false)]
    [InlineData("{\"itype\":\"event\",\"n\":{\"$numberLong\":\"15\"}}", false)]
    [InlineData("{\"_id\":{\"$numberLong\":\"15\"},\"n\":1}", false)]
    [InlineData("{\"itype\":\"attribute\",\"data\":\"tab\\tinside\"}", false)]
    public async Task Reader_KeepsTheTextExactlyWhenItIsInStoredForm(string line, bool kept)
    {
        var text = line.Replace("\"H\"", $"\"{Hash1}\"", StringComparison.Ordinal);
        var records = new List<TahoeDocumentRecord>();
        await foreach (var r in TahoeDocumentReader.ReadAsync(new StringReader(text + "\n" + text + "\n"), CancellationToken.None))
        {
            records.Add(r);
        }

        Assert.Equal(2, records.Count);
        foreach (var record in records)
        {
            Assert.NotNull(record.Document);
            Assert.Equal(kept, record.StoredPacked is not null);
            if (record.StoredPacked is { } packed)
            {
                Assert.Equal(PackedDocumentText.Pack(TahoeJsonWriter.Write(record.Document)), packed);
            }
        }
    }

    [Fact]
    public async Task Reader_InArraysAndPrettyPrint_KeepsOnlyCompactElements()
    {
        var doc = $"{{\"itype\":\"attribute\",\"data\":\"x\",\"sub_type\":\"ipv4\",\"_hash\":\"{Hash1}\"}}";
        var text = $"[{doc},{doc}, {doc}\n]\n{{\n  \"itype\": \"attribute\"\n}}\n";
        var records = new List<TahoeDocumentRecord>();
        await foreach (var r in TahoeDocumentReader.ReadAsync(new StringReader(text), CancellationToken.None))
        {
            records.Add(r);
        }

        Assert.Equal([true, true, false, false], records.Select(r => r.StoredPacked is not null));
        Assert.Equal(doc, PackedDocumentText.Unpack(records[0].StoredPacked!));
    }

    [Fact]
    public void WriteUtf8_IsTheUtf8OfWrite()
    {
        Gen.Int.Sample(seed =>
        {
            var text = PythonJsonPropertyTests.RandomJson.Document(new Random(seed), newlines: true);
            return !PythonJson.TryParse(text, DuplicateKeys.LastWins, out var value, out _)
                   || TahoeJsonWriter.WriteUtf8(value).AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(TahoeJsonWriter.Write(value)));
        }, iter: 2000);
    }

    [Fact]
    public async Task ArchiveForm_OfARecord_HoldsTheStoredTextAndReadsTheDocumentBack()
    {
        var generated = Documents();
        // Every line once in stored form and once pretty-printed (the writer's text then comes from the document).
        var text = new StringBuilder();
        foreach (var d in generated)
        {
            text.Append(TahoeJsonWriter.Write(d)).Append('\n');
            text.Append(TahoeJsonWriter.Write(d).Replace(",\"", ",\n  \"", StringComparison.Ordinal)).Append('\n');
        }

        var index = 0;
        await foreach (var record in TahoeDocumentReader.ReadAsync(new StringReader(text.ToString()), CancellationToken.None))
        {
            Assert.Equal(index % 2 == 0, record.StoredPacked is not null);
            var source = generated[index++ / 2];
            Assert.Empty(DocumentVerifier.Verify(record.Document!));
            Assert.True(ArchiveDocument.TryCreateVerified(record, out var forWriter, out var error), error);
            Assert.True(ArchiveDocument.TryCreateVerified(source, out var plain, out _));
            Assert.Equal(plain!.StoredText, forWriter!.StoredText);
            Assert.Equal(PackedDocumentText.Pack(plain.StoredText), forWriter.StoredPacked.ToArray());
            Assert.Equal(plain.Hash, forWriter.Hash);
            Assert.Equal((plain.Itype, plain.SubType, plain.OrgId, plain.Timestamp, plain.Category), (forWriter.Itype, forWriter.SubType, forWriter.OrgId, forWriter.Timestamp, forWriter.Category));
            Assert.Equal(plain.HashBytes.ToArray(), forWriter.HashBytes.ToArray());
            Assert.Equal(plain.RefHashBytes.ToArray(), forWriter.RefHashBytes.ToArray());
            Assert.Equal(plain.RefContexts.ToArray(), forWriter.RefContexts.ToArray());
            Assert.Equal(plain.Ref.ToArray(), forWriter.Ref.ToArray());
            Assert.Equal(plain.BenRef.ToArray(), forWriter.BenRef.ToArray());
            Assert.Equal(plain.MalRef.ToArray(), forWriter.MalRef.ToArray());
            Assert.Equal(plain.Cref.ToArray(), forWriter.Cref.ToArray());
            Assert.Equal(plain.IsUser || plain.IsOrg, forWriter.IsUser || forWriter.IsOrg);
            Assert.True(source.Equals(forWriter.Document));
            Assert.Equal(TahoeJsonWriter.Write(source), TahoeJsonWriter.Write(forWriter.Document));
            if (plain.IsOrg)
            {
                var (a, b) = (IdentityDocuments.Org(plain), IdentityDocuments.Org(forWriter));
                Assert.Equal((a.Hash, a.OrgName, a.Name), (b.Hash, b.OrgName, b.Name));
                Assert.Equal(a.Users.ToArray(), b.Users.ToArray());
                Assert.Equal(a.Admins.ToArray(), b.Admins.ToArray());
            }

            if (plain.IsUser)
            {
                Assert.Equal(IdentityDocuments.User(plain), IdentityDocuments.User(forWriter));
            }
        }

        Assert.Equal(generated.Count * 2, index);
    }

    [Fact]
    public void ArchiveForm_ReferenceBytesAndContexts_FollowTheHashLists()
    {
        var ip = TahoeAttribute.Create("ipv4", "203.0.113.7");
        var url = TahoeAttribute.Create("url", "http://example.com/");
        var name = TahoeAttribute.Create("filename", "a.exe");
        var elsewhere = TahoeAttribute.Create("ipv4", "198.51.100.1");
        var created = TahoeEvent.Create("file_download", [ip, url, name], "org", 1613902852.0).Document;

        // The context lists as they may arrive (they are not part of the hash): ip in both (malicious wins), url benign
        // only, a benign hash that is not a reference (no row to mark), name in neither.
        var doc = created
            .With("_ben_ref", TahoeValue.List([TahoeValue.String(url.Hash.Value), TahoeValue.String(ip.Hash.Value), TahoeValue.String(elsewhere.Hash.Value)]))
            .With("_mal_ref", TahoeValue.List([TahoeValue.String(ip.Hash.Value)]));
        var line = TahoeJsonWriter.Write(doc);
        var record = TahoeDocumentReader.ParseDocument(line, 1, 0);
        Assert.True(ArchiveDocument.TryCreate(doc, out var plain, out var error), error);
        Assert.True(ArchiveDocument.TryCreateVerified(record, out var forWriter, out error), error);

        foreach (var archived in new[] { plain!, forWriter! })
        {
            Assert.Equal(archived.Hash.ToBytes(), archived.HashBytes.ToArray());
            Assert.Equal(archived.Ref.SelectMany(r => r.ToBytes()).ToArray(), archived.RefHashBytes.ToArray());
            var expected = archived.Ref.Select(r => r == ip.Hash ? EventRefContext.Malicious : r == url.Hash ? EventRefContext.Benign : EventRefContext.None);
            Assert.Equal(expected.ToArray(), archived.RefContexts.ToArray());
            Assert.Equal(3, archived.RefContexts.Length);
        }
    }

    [Fact]
    public void ArchiveForm_OfARecordWithoutADocument_IsItsError()
    {
        Assert.False(ArchiveDocument.TryCreateVerified(new TahoeDocumentRecord(3, null, "line 3: broken"), out var doc, out var error));
        Assert.Null(doc);
        Assert.Equal("line 3: broken", error);
    }

    // Every itype, identity documents, contexts and categories, a float and an int timestamp, non-ASCII data.
    private static List<TahoeDict> Documents()
    {
        var ip = TahoeAttribute.Create("ipv4", "203.0.113.7");
        var url = TahoeAttribute.Create("url", "http://example.com/ä?q=1");
        var count = TahoeAttribute.Create("count", TahoeValue.Int(42));
        var file = TahoeObject.Create("file", TahoeAttribute.Create("filename", "a b.exe"), TahoeAttribute.Create("sha256", new string('e', 64)));
        var user = TahoeUser.Create("analyst@org1.example", "secret", "An Analyst");
        var org = TahoeOrg.Create("org1", [user], [user], "Org One");
        var e1 = TahoeEvent.Create("file_download", [file, ip, url], org.Hash.Value, 1613902852.0, benign: [url], malicious: [ip]).SetCategory("malicious");
        var session = TahoeSession.Create("session", Guid.Parse("06747c8e-b987-4018-90e0-4480ea1527ee"));
        var e2 = TahoeEvent.Create("ssh_login", [ip, count], TahoeValue.String(org.Hash.Value), TahoeValue.Int(1613902853));
        return [.. new TahoeInstance[] { ip, url, count, file, user, org, e1, e2, session, session.AddEvent([e1, e2]) }.Select(i => i.Document)];
    }

    private static bool HasCharactersTheWriterEscapes(string text)
    {
        foreach (var c in text)
        {
            if (c is '\u007f' or '\u2028' or '\u2029' || char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>The reader's text buffers: kept for the next texts up to a limit, larger ones from the shared pool.</summary>
public class TextBuffersTests
{
    [Fact]
    public void Rent_ReusesReturnedBuffers_UpToTheLimit()
    {
        var buffers = new TextBuffers();
        var first = buffers.Rent(10);
        Assert.Equal(TextBuffers.Size, first.Length);
        buffers.Return(first);
        Assert.Same(first, buffers.Rent(TextBuffers.Size));

        var many = Enumerable.Range(0, TextBuffers.MaxKept + 10).Select(_ => buffers.Rent(1)).ToList();
        Assert.Equal(many.Count, many.Distinct().Count());
        many.ForEach(buffers.Return);
        var again = Enumerable.Range(0, TextBuffers.MaxKept + 10).Select(_ => buffers.Rent(1)).ToList();
        Assert.Equal(TextBuffers.MaxKept, again.Count(many.Contains));
    }

    [Fact]
    public void Rent_OfMoreThanTheSize_ComesFromTheSharedPool()
    {
        var buffers = new TextBuffers();
        var large = buffers.Rent(TextBuffers.Size + 1);
        Assert.True(large.Length > TextBuffers.Size);
        buffers.Return(large); // accepted by the shared pool (a size it hands out)
    }

    [Fact]
    public async Task Reader_TextsParsedInBatches_WithSmallAndLargeBuffers_ReadAsUsual()
    {
        var line = "{\"itype\":\"attribute\",\"data\":\"x\",\"sub_type\":\"ipv4\",\"_hash\":\"h\"}\n";
        var big = "{\"itype\":\"attribute\",\"data\":\"" + new string('y', 3 * TextBuffers.Size) + "\"}\n";
        var text = string.Concat(Enumerable.Repeat(line, 500)) + big + line;
        var records = new List<TahoeDocumentRecord>();
        var pending = new List<TahoeDocumentText>();
        await foreach (var t in TahoeDocumentReader.ReadTextsAsync(new StringReader(text), CancellationToken.None))
        {
            pending.Add(t);
            if (pending.Count == 100)
            {
                // Parsed in batches, as ingest does on other threads.
                records.AddRange(pending.Select(p => p.Parse()));
                pending.Clear();
            }
        }

        records.AddRange(pending.Select(p => p.Parse()));
        Assert.Equal(502, records.Count);
        Assert.All(records, r => Assert.NotNull(r.Document));
        Assert.Equal(3 * TextBuffers.Size, records[500].Document!["data"]!.AsString.Length);
    }
}
