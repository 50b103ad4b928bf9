using System.Text;
using System.Text.Json;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Generation;
using Cybexp.Report.Service.Ingest;
using Cybexp.Report.Storage.Sqlite;
using static Cybexp.Report.Cli.Tests.CliRunner;

namespace Cybexp.Report.Cli.Tests;

/// <summary>
/// The ingest checks records on several threads ahead of its single writer: what it stores, counts and rejects is
/// still exactly what a sequential ingest would.
/// </summary>
public sealed class IngestPipelineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-ingest-pipeline-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Ingest_RejectsOfSeveralLargeInputs_LandInTheirOwnRejectsFile_WithTheirLines()
    {
        // Inputs much larger than what is checked ahead of the writer, each with rejects at the start and the end.
        var lines = await GeneratedLinesAsync(events: 1500);
        var a = WriteWithRejects("a.ndjson", lines, [1, lines.Count + 2]);
        var b = WriteWithRejects("b.ndjson", lines, [3, lines.Count + 1]);

        var (code, stdout, _) = await RunAsync("ingest", "--store", "sqlite:" + Path.Combine(_dir, "s.db"), "--json", "--batch", "300", a, b);

        Assert.Equal(3, code);
        var summary = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(2 * (lines.Count + 2), summary.GetProperty("read").GetInt64());
        Assert.Equal(lines.Count, summary.GetProperty("inserted").GetInt64());
        Assert.Equal(lines.Count, summary.GetProperty("duplicates").GetInt64());
        Assert.Equal(4, summary.GetProperty("rejected").GetInt64());
        Assert.Equal([1L, lines.Count + 2], RejectLines(a));
        Assert.Equal([3L, lines.Count + 1], RejectLines(b));
    }

    [Fact]
    public async Task Ingest_SameHashLaterInTheInput_LaterContentWins_AcrossChunksAndBatches()
    {
        var attr = TahoeAttribute.Create("ipv4", "198.51.100.7");
        const string org = "7496bc367d38f529e066604595f3907a393501d07cc0ab1b4eaa3caa08161135";
        var ev = TahoeEvent.Create("sighting", [attr], org, 1600000000);
        var filler = (await GeneratedLinesAsync(events: 400)).ToList();
        var versions = new[] { "unknown", "malicious", "benign", "malicious" };
        var input = new List<string> { TahoeJsonWriter.Write(attr.Document) };
        foreach (var category in versions)
        {
            input.Add(TahoeJsonWriter.Write(ev.Document.With("category", TahoeValue.String(category))));
            input.AddRange(filler.Take(97));
        }

        var file = Path.Combine(_dir, "versions.ndjson");
        await File.WriteAllLinesAsync(file, input, Ct);
        var db = Path.Combine(_dir, "v.db");

        var (code, stdout, _) = await RunAsync("ingest", "--store", "sqlite:" + db, "--json", "--batch", "50", file);

        Assert.Equal(0, code);
        Assert.Equal(3, JsonDocument.Parse(stdout).RootElement.GetProperty("updated").GetInt64());
        await using var store = await SqliteStore.OpenAsync(db, TimeProvider.System, Ct);
        var stored = Assert.Single(await store.Archive.GetDocumentsAsync([ev.Hash], Ct));
        Assert.Equal("malicious", stored.Category);
        var owner = new Visibility([org]);
        Assert.Equal(1, await store.Archive.CountEventsAsync(attr.Hash, new EventFilter(0, 0, "malicious", EventContext.All), owner, Ct));
        Assert.Equal(0, await store.Archive.CountEventsAsync(attr.Hash, new EventFilter(0, 0, "benign", EventContext.All), owner, Ct));
    }

    [Fact]
    public async Task Ingest_WaitingForItsInput_LetsTheOpenTransactionWork_AndStoresTheSame()
    {
        var lines = await GeneratedLinesAsync(events: 2400);
        Assert.True(lines.Count > 2500, $"{lines.Count} documents");
        await using var direct = await SqliteStore.OpenAsync(Path.Combine(_dir, "direct.db"), TimeProvider.System, Ct);
        await using var idle = await SqliteStore.OpenAsync(Path.Combine(_dir, "idle.db"), TimeProvider.System, Ct);
        var counting = CountingArchive.Over(idle.Archive);

        // One transaction: it opens once 2,000 documents are checked (they are added in chunks of that size), and the
        // input then pauses now and then, so the writer finds no checked chunk while the transaction is open.
        async IAsyncEnumerable<TahoeDocumentRecord> Slowly()
        {
            using var reader = new StringReader(string.Join('\n', lines));
            var n = 0;
            await foreach (var record in TahoeDocumentReader.ReadAsync(reader, Ct))
            {
                if (++n > 2000 && n % 100 == 0)
                {
                    await Task.Delay(5, Ct);
                }

                yield return record;
            }
        }

        var summary = await new ArchiveIngestor((IArchiveStore)counting, 100_000).IngestAsync(Slowly(), (_, _) => Task.CompletedTask, null, Ct);
        using (var reader = new StringReader(string.Join('\n', lines)))
        {
            await new ArchiveIngestor(direct.Archive, 100_000).IngestAsync(TahoeDocumentReader.ReadTextsAsync(reader, Ct), (_, _) => Task.CompletedTask, null, Ct);
        }


        Assert.True(counting.IdleCalls > 0, "the open transaction was never offered work");
        Assert.Equal(lines.Count, summary.Inserted);
        Assert.Equal(await direct.Archive.CountByItypeAsync(Ct), await idle.Archive.CountByItypeAsync(Ct));
        Assert.Equal(await direct.Archive.CountDanglingReferencesAsync(Ct), await idle.Archive.CountDanglingReferencesAsync(Ct));
    }

    [Fact]
    public async Task Ingest_OfParsedRecords_AndOfTexts_StoreTheSame()
    {
        var lines = await GeneratedLinesAsync(events: 600);
        var file = Path.Combine(_dir, "same.ndjson");
        await File.WriteAllLinesAsync(file, lines, Ct);
        await using var parsed = await SqliteStore.OpenAsync(Path.Combine(_dir, "p.db"), TimeProvider.System, Ct);
        await using var texts = await SqliteStore.OpenAsync(Path.Combine(_dir, "t.db"), TimeProvider.System, Ct);

        using (var reader = new StreamReader(file))
        {
            await new ArchiveIngestor(parsed.Archive, 333).IngestAsync(TahoeDocumentReader.ReadAsync(reader, Ct), (_, _) => Task.CompletedTask, null, Ct);
        }

        IngestSummary summary;
        using (var reader = new StreamReader(file))
        {
            summary = await new ArchiveIngestor(texts.Archive, 333).IngestAsync(TahoeDocumentReader.ReadTextsAsync(reader, Ct), (_, _) => Task.CompletedTask, null, Ct);
        }

        Assert.Equal(lines.Count, summary.Inserted);
        Assert.Equal(await parsed.Archive.CountByItypeAsync(Ct), await texts.Archive.CountByItypeAsync(Ct));
        var hashes = lines.Select(l => InstanceHash.Parse(JsonDocument.Parse(l).RootElement.GetProperty("_hash").GetString()!)).ToList();
        Assert.Equal(
            (await parsed.Archive.GetDocumentsAsync(hashes, Ct)).Select(d => d.StoredText),
            (await texts.Archive.GetDocumentsAsync(hashes, Ct)).Select(d => d.StoredText));
    }

    [Fact]
    public async Task Ingest_StoresWhatTheWriterWrites_WhetherTheTextIsInStoredForm_FromMongoexport_OrSpacedOut()
    {
        var lines = await GeneratedLinesAsync(events: 600);
        var documents = lines.Select(l => PythonJson.Parse(l).AsDict).ToList();
        var hashes = documents.Select(d => InstanceHash.Parse(d["_hash"]!.AsString)).ToList();

        // The reader keeps compact text as it is, drops mongoexport's leading _id member from it, and leaves spaced-out
        // text to the writer; all three must store exactly what the writer writes for the parsed documents.
        var inputs = new Dictionary<string, IEnumerable<string>>
        {
            ["compact"] = lines,
            ["mongoexport"] = lines.Select((l, i) => $"{{\"_id\":{{\"$oid\":\"{i:x24}\"}}," + l[1..]),
            ["spaced"] = lines.Select(l => l.Replace(",\"", ", \"", StringComparison.Ordinal)),
        };
        await using var written = await SqliteStore.OpenAsync(Path.Combine(_dir, "w.db"), TimeProvider.System, Ct);
        await new ArchiveIngestor(written.Archive, 250).IngestAsync(TahoeDocumentRecords.From(documents), (_, _) => Task.CompletedTask, null, Ct);
        var expected = (await written.Archive.GetDocumentsAsync(hashes, Ct)).Select(d => d.StoredText).ToList();
        Assert.Equal(documents.Select(TahoeJsonWriter.Write), expected);

        foreach (var (name, input) in inputs)
        {
            var file = Path.Combine(_dir, name + ".ndjson");
            await File.WriteAllLinesAsync(file, input, Ct);
            await using var store = await SqliteStore.OpenAsync(Path.Combine(_dir, name + ".db"), TimeProvider.System, Ct);
            using var reader = new StreamReader(file);
            var summary = await new ArchiveIngestor(store.Archive, 250).IngestAsync(TahoeDocumentReader.ReadTextsAsync(reader, Ct), (_, _) => Task.CompletedTask, null, Ct);
            Assert.Equal((lines.Count, 0L), (summary.Inserted, summary.Rejected));
            Assert.Equal(expected, (await store.Archive.GetDocumentsAsync(hashes, Ct)).Select(d => d.StoredText));
        }
    }

    /// <summary>The NDJSON lines of generated data (<paramref name="events"/> events and what they reference).</summary>
    internal static async Task<List<string>> GeneratedLinesAsync(int events, int seed = 5)
    {
        var sb = new StringBuilder();
        await using (var writer = new StringWriter(sb))
        {
            await new ArchiveGenerator(new GeneratorOptions(events, Seed: seed)).WriteAsync(writer, Ct);
        }

        return [.. sb.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)];
    }

    /// <summary>Writes <paramref name="lines"/> with a document with a wrong hash at each of the 1-based <paramref name="at"/> lines.</summary>
    private string WriteWithRejects(string name, List<string> lines, long[] at)
    {
        var output = new List<string>(lines);
        foreach (var line in at.Order())
        {
            output.Insert((int)line - 1, """{"itype":"attribute","sub_type":"ipv4","data":"192.0.2.1","_hash":"0000000000000000000000000000000000000000000000000000000000000000"}""");
        }

        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, output);
        return path;
    }

    private static List<long> RejectLines(string file) =>
        [.. File.ReadAllLines(file + ".rejects.ndjson").Select(l => JsonDocument.Parse(l).RootElement.GetProperty("line").GetInt64())];
}

/// <summary>
/// A real archive store seen through a proxy that counts <see cref="IArchiveWrite.WorkWhileIdle"/> calls on its write
/// transactions (everything else goes to the store as is).
/// </summary>
public class CountingArchive : System.Reflection.DispatchProxy
{
    private IArchiveStore _inner = null!;
    private int _idleCalls;

    public int IdleCalls => _idleCalls;

    public static CountingArchive Over(IArchiveStore inner)
    {
        var proxy = Create<IArchiveStore, CountingArchive>();
        var counting = (CountingArchive)(object)proxy;
        counting._inner = inner;
        return counting;
    }

    protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.Name == nameof(IArchiveStore.BeginWriteSequence))
        {
            return new SerialArchiveWriteSequence((IArchiveStore)(object)this);
        }

        var result = targetMethod.Invoke(_inner, args);
        return targetMethod.Name == nameof(IArchiveStore.BeginWriteAsync) ? WrapAsync((Task<IArchiveWrite>)result!) : result;
    }

    private async Task<IArchiveWrite> WrapAsync(Task<IArchiveWrite> write) => new CountingWrite(await write, this);

    private sealed class CountingWrite(IArchiveWrite inner, CountingArchive owner) : IArchiveWrite
    {
        public Task AddAsync(IReadOnlyList<ArchiveDocument> documents, CancellationToken cancellationToken) => inner.AddAsync(documents, cancellationToken);

        public Task<WriteSummary> CommitAsync(CancellationToken cancellationToken) => inner.CommitAsync(cancellationToken);

        public bool WorkWhileIdle()
        {
            Interlocked.Increment(ref owner._idleCalls);
            return inner.WorkWhileIdle();
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
