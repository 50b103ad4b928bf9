using System.Text;
using BenchmarkDotNet.Attributes;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Generation;

namespace Cybexp.Report.Bench;

/// <summary>
/// The shared CPU stage of ingest, per document: cutting documents out of NDJSON text, parsing them, verifying them
/// (unique text and SHA-256, edge lists) and serialising the stored text, separately and together. The input is
/// 4,000 consecutive generated documents (seed 42) taken after the first 20,000, so attribute reuse is as in a long
/// run; every figure is per document (<c>OperationsPerInvoke</c>). Documents are read as ingest reads them, so the
/// stored text of each is the reader's own text (the generator writes it in stored form).
/// </summary>
[MemoryDiagnoser]
public class IngestParseBenchmarks
{
    private const int Documents = 4000;

    private string _ndjson = string.Empty;
    private byte[] _utf8 = [];
    private string[] _texts = [];
    private TahoeDict[] _documents = [];
    private TahoeDocumentRecord[] _records = [];

    [GlobalSetup]
    public void Setup()
    {
        var generator = new ArchiveGenerator(new GeneratorOptions(Events: 20_000, Seed: 42));
        _documents = [.. generator.Documents().Skip(20_000).Take(Documents)];
        _texts = [.. _documents.Select(TahoeJsonWriter.Write)];
        _ndjson = string.Join('\n', _texts) + "\n";
        _utf8 = Encoding.UTF8.GetBytes(_ndjson);
        using (var reader = new StringReader(_ndjson))
        {
            _records = [.. TahoeDocumentReader.ReadAsync(reader).ToBlockingEnumerable()];
        }

        if (_documents.Length != Documents || _records.Length != Documents)
        {
            throw new InvalidOperationException($"generated {_documents.Length} documents, wanted {Documents}");
        }
    }

    /// <summary>Cutting the documents out of the NDJSON bytes (UTF-8 decoding and scanning), without parsing.</summary>
    [Benchmark(OperationsPerInvoke = Documents)]
    public async Task<int> Cut()
    {
        var n = 0;
        using var reader = new StreamReader(new MemoryStream(_utf8), Encoding.UTF8);
        await foreach (var text in TahoeDocumentReader.ReadTextsAsync(reader).ConfigureAwait(false))
        {
            n += text.Line > 0 ? 1 : 0;
        }

        return n;
    }

    /// <summary>Parsing one document's text into a <see cref="TahoeDict"/>.</summary>
    [Benchmark(OperationsPerInvoke = Documents)]
    public int Parse()
    {
        var n = 0;
        foreach (var text in _texts)
        {
            n += PythonJson.Parse(text).AsDict.Count;
        }

        return n;
    }

    /// <summary><see cref="DocumentVerifier.Verify"/> of one parsed document.</summary>
    [Benchmark(OperationsPerInvoke = Documents)]
    public int Verify()
    {
        var n = 0;
        foreach (var doc in _documents)
        {
            n += DocumentVerifier.Verify(doc).Count;
        }

        return n;
    }

    /// <summary>
    /// The archive form of a verified document as ingest hands it to the store's writer (stored text packed, from the
    /// reader's own text when it is in stored form).
    /// </summary>
    [Benchmark(OperationsPerInvoke = Documents)]
    public int Store()
    {
        var n = 0;
        foreach (var record in _records)
        {
            ArchiveDocument.TryCreateVerified(record, out var archived, out _);
            n += archived!.StoredPacked.Length;
        }

        return n;
    }

    /// <summary>Everything the parallel stage of ingest does, from the NDJSON bytes to the stored text.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Documents)]
    public async Task<int> All()
    {
        var n = 0;
        using var reader = new StreamReader(new MemoryStream(_utf8), Encoding.UTF8);
        await foreach (var text in TahoeDocumentReader.ReadTextsAsync(reader).ConfigureAwait(false))
        {
            var record = text.Parse();
            if (DocumentVerifier.Verify(record.Document!).Count == 0 && ArchiveDocument.TryCreateVerified(record, out var archived, out _))
            {
                n += archived!.StoredPacked.Length;
            }
        }

        return n;
    }
}
