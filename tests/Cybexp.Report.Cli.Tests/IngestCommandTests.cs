using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Generation;
using Cybexp.Report.Service.Ingest;
using Cybexp.Report.Storage.Sqlite;
using static Cybexp.Report.Cli.Tests.CliRunner;

namespace Cybexp.Report.Cli.Tests;

public sealed class IngestCommandTests : IDisposable
{
    private const string Org1 = "7496bc367d38f529e066604595f3907a393501d07cc0ab1b4eaa3caa08161135";

    private static readonly TahoeAttribute Ip = TahoeAttribute.Create("ipv4", "1.1.1.1");
    private static readonly TahoeAttribute File1 = TahoeAttribute.Create("filename", "virus.exe");
    private static readonly TahoeEvent Download = TahoeEvent.Create("file_download", [Ip, File1], Org1, 1600000000.5);

    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-ingest-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Store => "sqlite:" + Path.Combine(_dir, "store.db");

    private string WriteFile(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
        return path;
    }

    private static string Json(TahoeInstance instance) => TahoeJsonWriter.Write(instance.Document);

    private static JsonElement Summary(string stdout) => JsonDocument.Parse(stdout).RootElement;

    private static void AssertCounts(string stdout, long read, long inserted, long duplicates, long updated, long rejected, long dangling)
    {
        var s = Summary(stdout);
        Assert.Equal(
            (read, inserted, duplicates, updated, rejected, dangling),
            (s.GetProperty("read").GetInt64(), s.GetProperty("inserted").GetInt64(), s.GetProperty("duplicates").GetInt64(),
             s.GetProperty("updated").GetInt64(), s.GetProperty("rejected").GetInt64(), s.GetProperty("dangling_references").GetInt64()));
    }

    [Fact]
    public async Task Ingest_SecondRunOfTheSameFile_InsertsNothing_AndReportsDuplicates()
    {
        var file = WriteFile("a.ndjson", Json(Ip), Json(File1), Json(Download));

        var first = await RunAsync("ingest", "--store", Store, "--json", file);
        var second = await RunAsync("ingest", "--store", Store, "--json", file);

        Assert.Equal(0, first.Code);
        AssertCounts(first.Out, read: 3, inserted: 3, duplicates: 0, updated: 0, rejected: 0, dangling: 0);
        Assert.Equal(0, second.Code);
        AssertCounts(second.Out, read: 3, inserted: 0, duplicates: 3, updated: 0, rejected: 0, dangling: 0);
        Assert.Equal(["store: sqlite:" + Path.Combine(_dir, "store.db")], Lines(first.Err));
        Assert.False(File.Exists(file + ".rejects.ndjson"));
    }

    [Fact]
    public async Task Doc_PrintsTheIngestedText_InTheOrderGiven_AndNamesWhatIsMissingOrMalformed()
    {
        // A user's e-mail and name go in as written, non-ASCII included; the store keeps every document packed.
        var user = TahoeUser.Create("zoë@example.com", "pw", "Zoë Ŝtrauß");
        var lines = new[] { Json(Ip), Json(File1), Json(Download), Json(user) };
        var file = WriteFile("a.ndjson", lines);
        Assert.Equal(0, (await RunAsync("ingest", "--store", Store, file)).Code);

        var shown = await RunAsync("doc", "--store", Store, Download.Hash.Value, Ip.Hash.Value.ToUpperInvariant(), user.Hash.Value, Download.Hash.Value);

        Assert.Equal((0, string.Empty), (shown.Code, shown.Err));
        Assert.Equal([lines[2], lines[0], lines[3], lines[2]], shown.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var missing = TahoeAttribute.Create("ipv4", "192.0.2.1").Hash.Value;
        var partly = await RunAsync("doc", "--store", Store, File1.Hash.Value, missing);
        Assert.Equal((1, lines[1]), (partly.Code, partly.Out.Trim()));
        Assert.Equal($"error: {missing} is not in the archive", partly.Err.Trim());

        var malformed = await RunAsync("doc", "--store", Store, Ip.Hash.Value, "1234");
        Assert.Equal((2, string.Empty), (malformed.Code, malformed.Out));
        Assert.Equal("error: '1234' is not a document hash; a _hash is 64 hex digits", malformed.Err.Trim());
    }

    [Fact]
    public async Task Ingest_HumanSummary_NamesEveryCount()
    {
        var file = WriteFile("a.ndjson", Json(Ip), Json(Download));

        var (code, stdout, _) = await RunAsync("ingest", "--store", Store, file);

        Assert.Equal(0, code);
        Assert.Equal(
            ["read 2 documents: 2 inserted, 0 duplicates, 0 updated, 0 rejected", "dangling references: 1"],
            Lines(stdout));
    }

    [Fact]
    public async Task Ingest_WrongHashCorruptLineAndUnknownItype_AreRejectedWithReasons_AndExitThree()
    {
        var wrongHash = Json(File1).Replace(File1.Hash.Value, Ip.Hash.Value, StringComparison.Ordinal);
        var unknownItype = Json(Ip).Replace("\"itype\":\"attribute\"", "\"itype\":\"widget\"", StringComparison.Ordinal);
        var file = WriteFile("bad.ndjson", Json(Ip), wrongHash, "{\"itype\": \"attribute\", broken", unknownItype);

        var (code, stdout, _) = await RunAsync("ingest", "--store", Store, file);

        Assert.Equal(3, code);
        Assert.Equal("read 4 documents: 1 inserted, 0 duplicates, 0 updated, 3 rejected", Lines(stdout)[0]);
        Assert.Contains("rejects written to " + file + ".rejects.ndjson", Lines(stdout));
        var rejects = File.ReadAllLines(file + ".rejects.ndjson").Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([2, 3, 4], rejects.Select(r => r.GetProperty("line").GetInt32()));
        Assert.Contains("_hash", rejects[0].GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("virus.exe", rejects[0].GetProperty("document").GetProperty("data").GetString());
        Assert.Equal(JsonValueKind.Null, rejects[1].GetProperty("document").ValueKind);
        Assert.False(string.IsNullOrWhiteSpace(rejects[1].GetProperty("reason").GetString()));
        Assert.Contains("itype", rejects[2].GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal("widget", rejects[2].GetProperty("document").GetProperty("itype").GetString());
    }

    [Fact]
    public async Task Ingest_WithoutRejects_RemovesTheRejectsFileOfAnEarlierRun()
    {
        var file = WriteFile("x.ndjson", Json(Ip), "not json");
        Assert.Equal(3, (await RunAsync("ingest", "--store", Store, file)).Code);
        Assert.True(File.Exists(file + ".rejects.ndjson"));

        WriteFile("x.ndjson", Json(Ip));
        var (code, stdout, _) = await RunAsync("ingest", "--store", Store, "--json", file);

        Assert.Equal(0, code);
        AssertCounts(stdout, read: 1, inserted: 0, duplicates: 1, updated: 0, rejected: 0, dangling: 0);
        Assert.False(File.Exists(file + ".rejects.ndjson"));
    }

    [Fact]
    public async Task Ingest_EventWithMissingChildren_IsKept_AndCountedAsDanglingReferences()
    {
        var events = WriteFile("events.ndjson", Json(Download));
        var children = WriteFile("children.ndjson", Json(Ip), Json(File1));

        var first = await RunAsync("ingest", "--store", Store, "--json", events);
        var second = await RunAsync("ingest", "--store", Store, "--json", children);

        Assert.Equal(0, first.Code);
        AssertCounts(first.Out, read: 1, inserted: 1, duplicates: 0, updated: 0, rejected: 0, dangling: 2);
        AssertCounts(second.Out, read: 2, inserted: 2, duplicates: 0, updated: 0, rejected: 0, dangling: 0);
    }

    [Fact]
    public async Task Ingest_SameHashWithNewCategory_ReplacesTheStoredFields()
    {
        var file = WriteFile("a.ndjson", Json(Ip), Json(File1), Json(Download));
        var edited = WriteFile("b.ndjson", TahoeJsonWriter.Write(Download.SetCategory("malicious").SetContext(([Ip], "malicious")).Document));
        await RunAsync("ingest", "--store", Store, file);

        var (code, stdout, _) = await RunAsync("ingest", "--store", Store, "--json", edited);

        Assert.Equal(0, code);
        AssertCounts(stdout, read: 1, inserted: 0, duplicates: 0, updated: 1, rejected: 0, dangling: 0);
        await using var store = await SqliteStore.OpenAsync(Path.Combine(_dir, "store.db"), TimeProvider.System, Ct);
        var visible = new Visibility([Org1]);
        Assert.Equal(1, await store.Archive.CountEventsAsync(Ip.Hash, new EventFilter(0, 0, "malicious", EventContext.Malicious), visible, Ct));
    }

    [Fact]
    public async Task Ingest_MongoExport_KeepsIntegersAndFloatsApart()
    {
        var intAttr = TahoeAttribute.Create("port", TahoeValue.Int(42));
        var floatAttr = TahoeAttribute.Create("port", TahoeValue.Float(42.0));
        Assert.NotEqual(intAttr.Hash, floatAttr.Hash);
        string Mongo(TahoeInstance i, string data) =>
            Json(i).Replace("{\"itype\"", "{\"_id\":{\"$oid\":\"5f1b2c3d4e5f6a7b8c9d0e1f\"},\"itype\"", StringComparison.Ordinal)
                .Replace("\"data\":" + TahoeJsonWriter.Write(i.Data) + ",", "\"data\":" + data + ",", StringComparison.Ordinal);
        var ev = TahoeEvent.Create("scan", [intAttr, floatAttr], Org1, 1600000000.5);
        var mongoEvent = Json(ev).Replace("\"timestamp\":1600000000.5", "\"timestamp\":{\"$numberDouble\":\"1600000000.5\"}", StringComparison.Ordinal);
        Assert.Contains("$numberDouble", mongoEvent, StringComparison.Ordinal);
        Assert.Contains("$numberLong", Mongo(intAttr, "{\"$numberLong\":\"42\"}"), StringComparison.Ordinal);
        var file = WriteFile("export.json", Mongo(intAttr, "{\"$numberLong\":\"42\"}"), Mongo(floatAttr, "{\"$numberDouble\":\"42.0\"}"), mongoEvent);

        var (code, stdout, err) = await RunAsync("ingest", "--store", Store, "--json", file);

        Assert.True(code == 0, err + stdout);
        AssertCounts(stdout, read: 3, inserted: 3, duplicates: 0, updated: 0, rejected: 0, dangling: 0);
        await using var store = await SqliteStore.OpenAsync(Path.Combine(_dir, "store.db"), TimeProvider.System, Ct);
        var docs = (await store.Archive.GetDocumentsAsync([intAttr.Hash, floatAttr.Hash, ev.Hash], Ct)).ToDictionary(d => d.Hash);
        Assert.IsType<TahoeInt>(docs[intAttr.Hash].Document["data"]);
        Assert.IsType<TahoeFloat>(docs[floatAttr.Hash].Document["data"]);
        Assert.Equal(1600000000.5, docs[ev.Hash].Timestamp);
        Assert.False(docs[ev.Hash].Document.ContainsKey("_id"));
    }

    [Fact]
    public async Task Ingest_ReadsStandardInput_ForDash()
    {
        var (code, stdout, _) = await RunWithStdinAsync(Json(Ip) + "\n" + Json(File1) + "\n", "ingest", "--store", Store, "--json", "-");

        Assert.Equal(0, code);
        AssertCounts(stdout, read: 2, inserted: 2, duplicates: 0, updated: 0, rejected: 0, dangling: 0);
    }

    [Fact]
    public async Task Ingest_UnwritableStorePath_ExitsOne_WithAClearMessage()
    {
        var blocker = WriteFile("not-a-folder", "x");
        var file = WriteFile("a.ndjson", Json(Ip));

        var (code, stdout, stderr) = await RunAsync("ingest", "--store", "sqlite:" + Path.Combine(blocker, "store.db"), file);

        Assert.Equal(1, code);
        Assert.Empty(stdout);
        Assert.StartsWith("error: the store is not usable: cannot open the SQLite store at " + Path.Combine(blocker, "store.db"), stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_UnknownStoreKind_ExitsOne_NamingTheAcceptedForms()
    {
        var file = WriteFile("a.ndjson", Json(Ip));

        var (code, _, stderr) = await RunAsync("ingest", "--store", "mongodb://localhost", file);

        Assert.Equal(1, code);
        Assert.Contains("use sqlite:PATH", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ingest_MissingFile_ExitsOne_AndStillIngestsTheOthers()
    {
        var file = WriteFile("a.ndjson", Json(Ip));
        var missing = Path.Combine(_dir, "missing.ndjson");

        var (code, stdout, stderr) = await RunAsync("ingest", "--store", Store, "--json", missing, file);

        Assert.Equal(1, code);
        Assert.Contains($"error: {missing}: cannot open: no such file", stderr, StringComparison.Ordinal);
        AssertCounts(stdout, read: 1, inserted: 1, duplicates: 0, updated: 0, rejected: 0, dangling: 0);
    }

    [Fact]
    public async Task Ingest_InterruptedByAReadFailure_KeepsWholeBatches_AndARerunCompletesWithoutDuplicates()
    {
        var file = await GenerateAsync(events: 1200);
        var total = File.ReadLines(file).Count();
        const int batch = 500;
        const int failAfter = 1234;

        // The interrupted ingest: the input breaks after failAfter records.
        var dbPath = Path.Combine(_dir, "store.db");
        await using (var store = await SqliteStore.OpenAsync(dbPath, TimeProvider.System, Ct))
        {
            using var reader = new StreamReader(file);
            var ingestor = new ArchiveIngestor(store.Archive, batch);
            await Assert.ThrowsAsync<IOException>(() =>
                ingestor.IngestAsync(FailAfter(TahoeDocumentReader.ReadAsync(reader, Ct), failAfter), (_, _) => Task.CompletedTask, null, Ct));
            Assert.Equal(failAfter / batch * batch, (await store.Archive.CountByItypeAsync(Ct)).Values.Sum());
        }

        var (code, stdout, _) = await RunAsync("ingest", "--store", "sqlite:" + dbPath, "--json", "--batch", "500", file);

        Assert.Equal(0, code);
        AssertCounts(stdout, read: total, inserted: total - (failAfter / batch * batch), duplicates: failAfter / batch * batch, updated: 0, rejected: 0, dangling: 0);
        await AssertSameAsCleanIngestAsync(dbPath, file);
    }

    [Fact]
    public async Task Ingest_Cancelled_KeepsWholeBatches_AndARerunCompletesWithoutDuplicates()
    {
        var file = await GenerateAsync(events: 1200);
        var total = File.ReadLines(file).Count();
        var dbPath = Path.Combine(_dir, "store.db");
        await using (var store = await SqliteStore.OpenAsync(dbPath, TimeProvider.System, Ct))
        {
            using var reader = new StreamReader(file);
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var flushes = new CancelOnReport(cancel, after: 2);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                new ArchiveIngestor(store.Archive, 400).IngestAsync(TahoeDocumentReader.ReadAsync(reader, cancel.Token), (_, _) => Task.CompletedTask, flushes, cancel.Token));
            Assert.Equal(800, (await store.Archive.CountByItypeAsync(Ct)).Values.Sum());
        }

        var (code, stdout, _) = await RunAsync("ingest", "--store", "sqlite:" + dbPath, "--json", file);

        Assert.Equal(0, code);
        AssertCounts(stdout, read: total, inserted: total - 800, duplicates: 800, updated: 0, rejected: 0, dangling: 0);
        await AssertSameAsCleanIngestAsync(dbPath, file);
    }

    /// <summary>Counts by itype and every hub value's event count equal those of a clean ingest of the same file.</summary>
    private async Task AssertSameAsCleanIngestAsync(string dbPath, string file)
    {
        var cleanPath = Path.Combine(_dir, "clean.db");
        Assert.Equal(0, (await RunAsync("ingest", "--store", "sqlite:" + cleanPath, file)).Code);
        await using var resumed = await SqliteStore.OpenAsync(dbPath, TimeProvider.System, Ct);
        await using var clean = await SqliteStore.OpenAsync(cleanPath, TimeProvider.System, Ct);
        Assert.Equal(await clean.Archive.CountByItypeAsync(Ct), await resumed.Archive.CountByItypeAsync(Ct));
        var orgs = (await clean.Identity.ListOrgsAsync(Ct)).Select(o => o.Hash.Value);
        var all = new Visibility(orgs);
        foreach (var hub in new[] { ArchiveGenerator.HubIp, ArchiveGenerator.HubDomain })
        {
            var sub = hub == ArchiveGenerator.HubIp ? "ipv4" : "domain";
            var hash = TahoeAttribute.Create(sub, hub).Hash;
            var expected = await clean.Archive.CountEventsAsync(hash, EventFilter.Everything, all, Ct);
            Assert.True(expected > 0);
            Assert.Equal(expected, await resumed.Archive.CountEventsAsync(hash, EventFilter.Everything, all, Ct));
        }

        Assert.Equal(await clean.Archive.CountDanglingReferencesAsync(Ct), await resumed.Archive.CountDanglingReferencesAsync(Ct));
    }

    private async Task<string> GenerateAsync(int events)
    {
        var path = Path.Combine(_dir, "generated.ndjson");
        await using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        await new ArchiveGenerator(new GeneratorOptions(events, Seed: 11)).WriteAsync(writer, Ct);
        return path;
    }

    private static async IAsyncEnumerable<TahoeDocumentRecord> FailAfter(IAsyncEnumerable<TahoeDocumentRecord> records, int count, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var n = 0;
        await foreach (var record in records.WithCancellation(ct))
        {
            if (n++ == count)
            {
                throw new IOException("the input went away");
            }

            yield return record;
        }
    }

    /// <summary>Cancels synchronously on the given flush report (a <see cref="Progress{T}"/> would post it later).</summary>
    private sealed class CancelOnReport(CancellationTokenSource source, int after) : IProgress<long>
    {
        private int _reports;

        public void Report(long value)
        {
            if (++_reports == after)
            {
                source.Cancel();
            }
        }
    }
}
