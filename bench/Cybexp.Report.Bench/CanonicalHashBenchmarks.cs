using BenchmarkDotNet.Attributes;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Bench;

/// <summary>
/// Canonical text and SHA-256 of an event with 20 attributes and 2 objects (3 attributes each): building it from
/// ready children, building it and all its children from scratch, and re-hashing its stored document (through the
/// unique text as a string, and straight to the hash).
/// Inputs are fixed, so every run measures the same work.
/// </summary>
[MemoryDiagnoser]
public class CanonicalHashBenchmarks
{
    private const string Orgid = "7496bc367d38f529e066604595f3907a393501d07cc0ab1b4eaa3caa08161135";

    private TahoeInstance[] _children = [];
    private TahoeDict _document = TahoeDict.Empty;

    [GlobalSetup]
    public void Setup()
    {
        _children = BuildChildren();
        _document = TahoeEvent.Create("file_download", _children, Orgid, 1_600_000_000.25).Document;
    }

    /// <summary>Event from its 22 ready children: data, canonical text, edges and hash.</summary>
    [Benchmark(Baseline = true)]
    public InstanceHash EventFromChildren() =>
        TahoeEvent.Create("file_download", _children, Orgid, 1_600_000_000.25).Hash;

    /// <summary>The 26 attributes, 2 objects and the event, all built and hashed.</summary>
    [Benchmark]
    public InstanceHash EventFromScratch() =>
        TahoeEvent.Create("file_download", BuildChildren(), Orgid, 1_600_000_000.25).Hash;

    /// <summary>Unique text of the stored event document and its hash (what reading back a document costs).</summary>
    [Benchmark]
    public InstanceHash EventDocumentRehash()
    {
        UniqueText.TryCompute(_document, out var unique, out _);
        return InstanceHash.Of(unique);
    }

    /// <summary>The same hash straight from the document, without building the unique text as a string.</summary>
    [Benchmark]
    public InstanceHash EventDocumentHash()
    {
        UniqueText.TryComputeHash(_document, out var hash, out _);
        return hash;
    }

    private static TahoeInstance[] BuildChildren()
    {
        var children = new TahoeInstance[22];
        for (var i = 0; i < 20; i++)
        {
            children[i] = (i % 4) switch
            {
                0 => TahoeAttribute.Create("ipv4", $"10.0.{i}.{i * 7 % 255}"),
                1 => TahoeAttribute.Create("url", $"http://example{i}.com/path/{i}?q=\"x\""),
                2 => TahoeAttribute.Create("port", TahoeValue.Int(1000 + i)),
                _ => TahoeAttribute.Create("score", TahoeValue.Float(i / 3.0)),
            };
        }

        children[20] = TahoeObject.Create(
            "file",
            TahoeAttribute.Create("filename", "virus.exe"),
            TahoeAttribute.Create("sha256", "bf69f4219069098da61a80641265d8834b474474957742510105d70703ebdb27"),
            TahoeAttribute.Create("filesize", TahoeValue.Int(22714)));
        children[21] = TahoeObject.Create(
            "email",
            TahoeAttribute.Create("email_addr", "user@example.com"),
            TahoeAttribute.Create("subject", "  Résumé 📎  "),
            TahoeAttribute.Create("name", "User"));
        return children;
    }
}
