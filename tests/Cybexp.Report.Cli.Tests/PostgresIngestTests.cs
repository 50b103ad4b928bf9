using System.Text.Json;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Generation;
using Cybexp.Report.Storage.Tests;
using Npgsql;
using static Cybexp.Report.Cli.Tests.CliRunner;

namespace Cybexp.Report.Cli.Tests;

/// <summary>
/// The ingest and identity commands against a real PostgreSQL server (the storage tests' throw-away cluster), each
/// test in a schema of its own reached through the connection string's search path.
/// </summary>
public sealed class PostgresIngestTests : IAsyncLifetime, IDisposable
{
    private readonly PostgresSchemas _schemas = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-pg-ingest-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _schemas.DropAllAsync();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A <c>postgres:</c> store spec for a new, migrated schema.</summary>
    private async Task<string> NewStoreAsync() => (await NewSchemaStoreAsync()).Spec;

    /// <summary>A <c>postgres:</c> store spec for a new, migrated schema, and the schema's name.</summary>
    private async Task<(string Spec, string Schema)> NewSchemaStoreAsync()
    {
        var schema = _schemas.NewName();
        await (await _schemas.OpenAsync(TimeProvider.System, Ct, schema)).DisposeAsync();
        var server = await PostgresServer.GetAsync();
        var cs = new NpgsqlConnectionStringBuilder(server.ConnectionString) { SearchPath = schema };
        return ("postgres:" + cs.ConnectionString, schema);
    }

    [Fact]
    public async Task Ingest_SecondRunOfTheSameFile_InsertsNothing_OnPostgres()
    {
        var store = await NewStoreAsync();
        var file = Path.Combine(_dir, "g.ndjson");
        await using (var writer = new StreamWriter(file))
        {
            await new ArchiveGenerator(new GeneratorOptions(300, Seed: 4)).WriteAsync(writer, Ct);
        }

        var total = File.ReadLines(file).Count();

        var first = await RunAsync("ingest", "--store", store, "--json", "--batch", "100", file);
        var second = await RunAsync("ingest", "--store", store, "--json", file);

        Assert.True(first.Code == 0, first.Err);
        Assert.StartsWith("store: postgres:", first.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", first.Err, StringComparison.OrdinalIgnoreCase);
        var a = JsonDocument.Parse(first.Out).RootElement;
        var b = JsonDocument.Parse(second.Out).RootElement;
        Assert.Equal((total, total, 0, 0), (a.GetProperty("read").GetInt32(), a.GetProperty("inserted").GetInt32(), a.GetProperty("duplicates").GetInt32(), a.GetProperty("rejected").GetInt32()));
        Assert.Equal(0, second.Code);
        Assert.Equal((total, 0, total, 0), (b.GetProperty("read").GetInt32(), b.GetProperty("inserted").GetInt32(), b.GetProperty("duplicates").GetInt32(), b.GetProperty("rejected").GetInt32()));
        Assert.Equal(0, b.GetProperty("dangling_references").GetInt32());
    }

    [Fact]
    public async Task Ingest_TransactionsOfSeveralChunks_StoreWhatSmallTransactionsStore_OnPostgres()
    {
        // With the store's default transaction size, each transaction takes its documents in several chunks (each
        // written when it comes, the reference rows at the commit); with --batch 100 every transaction is one chunk.
        var file = Path.Combine(_dir, "chunks.ndjson");
        await using (var writer = new StreamWriter(file))
        {
            await new ArchiveGenerator(new GeneratorOptions(5000, Seed: 6)).WriteAsync(writer, Ct);
        }

        var total = File.ReadLines(file).Count();
        Assert.True(total > 3 * 2000, $"{total} documents: fewer than three chunks");
        var (large, largeSchema) = await NewSchemaStoreAsync();
        var (small, smallSchema) = await NewSchemaStoreAsync();

        var first = await RunAsync("ingest", "--store", large, "--json", file);
        var reference = await RunAsync("ingest", "--store", small, "--json", "--batch", "100", file);
        var again = await RunAsync("ingest", "--store", large, "--json", file);

        Assert.True(first.Code == 0, first.Err);
        Assert.True(reference.Code == 0, reference.Err);
        Assert.True(again.Code == 0, again.Err);
        Assert.Equal(reference.Out, first.Out);
        var a = JsonDocument.Parse(first.Out).RootElement;
        Assert.Equal((total, total, 0), (a.GetProperty("read").GetInt32(), a.GetProperty("inserted").GetInt32(), a.GetProperty("dangling_references").GetInt32()));
        var b = JsonDocument.Parse(again.Out).RootElement;
        Assert.Equal((0, total), (b.GetProperty("inserted").GetInt32(), b.GetProperty("duplicates").GetInt32()));
        Assert.Equal(await TableDigestsAsync(smallSchema), await TableDigestsAsync(largeSchema));
    }

    /// <summary>An MD5 of every archive and identity table's rows, in key order (the version counters left out).</summary>
    private static async Task<string> TableDigestsAsync(string schema)
    {
        string[] tables =
        [
            "instances|hash", "events|hash", "event_refs|ref_hash, org, ts, event_seq", "session_events|event_hash, session_hash",
            "event_orgs|id", "users|hash", "orgs|hash", "org_members|user_hash, role, org_hash",
        ];
        var server = await PostgresServer.GetAsync();
        await using var conn = new NpgsqlConnection(server.ConnectionString);
        await conn.OpenAsync(Ct);
        var digests = new List<string>();
        foreach (var entry in tables)
        {
            var (table, key) = (entry.Split('|')[0], entry.Split('|')[1]);
            var order = string.Join(", ", key.Split(", ").Select(c => "t." + c));
            await using var cmd = new NpgsqlCommand($"SELECT '{table} ' || count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY {order})), '') FROM \"{schema}\".{table} AS t;", conn);
            digests.Add((string)(await cmd.ExecuteScalarAsync(Ct))!);
        }

        return string.Join("\n", digests);
    }

    [Fact]
    public async Task Ingest_EditsInNeighbouringBatches_CountAndStoreAsOneOrderedWriter_OnPostgres()
    {
        // Batches are committed two at a time on two connections; versions of one event land in neighbouring batches.
        var attr = TahoeAttribute.Create("ipv4", "198.51.100.7");
        const string org = "7496bc367d38f529e066604595f3907a393501d07cc0ab1b4eaa3caa08161135";
        var ev = TahoeEvent.Create("sighting", [attr], org, 1600000000);
        var filler = new List<string>();
        await using (var writer = new StringWriter())
        {
            await new ArchiveGenerator(new GeneratorOptions(200, Seed: 5)).WriteAsync(writer, Ct);
            filler.AddRange(writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }

        var versions = new[] { "unknown", "malicious", "benign", "malicious", "malicious" };
        var input = new List<string> { TahoeJsonWriter.Write(attr.Document) };
        foreach (var category in versions)
        {
            input.Add(TahoeJsonWriter.Write(ev.Document.With("category", TahoeValue.String(category))));
            input.AddRange(filler.Take(31));
            filler.RemoveRange(0, 31);
        }

        var file = Path.Combine(_dir, "versions.ndjson");
        await File.WriteAllLinesAsync(file, input, Ct);
        var (spec, schema) = await NewSchemaStoreAsync();

        var (code, stdout, stderr) = await RunAsync("ingest", "--store", spec, "--json", "--batch", "25", file);

        Assert.True(code == 0, stderr);
        var summary = JsonDocument.Parse(stdout).RootElement;
        var documents = input.Count - versions.Length + 1;
        Assert.Equal((documents, 1, 3), (summary.GetProperty("inserted").GetInt32(), summary.GetProperty("duplicates").GetInt32(), summary.GetProperty("updated").GetInt32()));
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        var stored = Assert.Single(await store.Archive.GetDocumentsAsync([ev.Hash], Ct));
        Assert.Equal("malicious", stored.Category);
        var owner = new Visibility([org]);
        Assert.Equal(1, await store.Archive.CountEventsAsync(attr.Hash, new EventFilter(0, 0, "malicious", EventContext.All), owner, Ct));
        Assert.Equal(0, await store.Archive.CountEventsAsync(attr.Hash, new EventFilter(0, 0, "benign", EventContext.All), owner, Ct));
    }

    [Fact]
    public async Task Ingest_WrongHash_IsRejected_OnPostgres()
    {
        var store = await NewStoreAsync();
        var ip = TahoeAttribute.Create("ipv4", "1.1.1.1");
        var file = Path.Combine(_dir, "bad.ndjson");
        await File.WriteAllTextAsync(file, TahoeJsonWriter.Write(ip.Document).Replace("1.1.1.1", "2.2.2.2", StringComparison.Ordinal) + "\n", Ct);

        var (code, stdout, _) = await RunAsync("ingest", "--store", store, "--json", file);

        Assert.Equal(3, code);
        Assert.Equal(1, JsonDocument.Parse(stdout).RootElement.GetProperty("rejected").GetInt32());
        Assert.Single(File.ReadAllLines(file + ".rejects.ndjson"));
    }

    [Fact]
    public async Task UsersAndOrgs_EndToEnd_OnPostgres() => await IdentityCommandsTests.ScenarioAsync(await NewStoreAsync());

    [Fact]
    public async Task Ingest_ServerGoingAwayMidIngest_ExitsOne_AndARerunCompletesConsistently()
    {
        var (store, schema) = await NewSchemaStoreAsync();
        var application = "cybexp-ingest-" + Guid.NewGuid().ToString("N")[..12];
        var spec = store + ";Application Name=" + application;
        var file = Path.Combine(_dir, "g.ndjson");
        await using (var writer = new StreamWriter(file))
        {
            await new ArchiveGenerator(new GeneratorOptions(2000, Seed: 9)).WriteAsync(writer, Ct);
        }

        var total = File.ReadLines(file).Count();
        var ingest = RunAsync("ingest", "--store", spec, "--json", "--batch", "50", file);

        // Kill the ingest's server sessions once the first batches are in, and keep killing them until it gives up.
        await using (var admin = await PostgresSchemas.ConnectAsync(Ct))
        {
            await using var stored = new NpgsqlCommand($"SELECT count(*) FROM \"{schema}\".instances;", admin);
            while (!ingest.IsCompleted && (long)(await stored.ExecuteScalarAsync(Ct))! == 0)
            {
                await Task.Delay(10, Ct);
            }

            Assert.False(ingest.IsCompleted, "the ingest ended before the server went away; give it more work");
            while (!ingest.IsCompleted)
            {
                await using var kill = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1;", admin);
                kill.Parameters.AddWithValue(application);
                await kill.ExecuteScalarAsync(Ct);
                await Task.Delay(20, Ct);
            }
        }

        var failed = await ingest;
        Assert.Equal(1, failed.Code);
        Assert.Contains("error: the store failed during the ingest", failed.Err, StringComparison.Ordinal);
        Assert.Empty(failed.Out);

        var rerun = await RunAsync("ingest", "--store", spec, "--json", file);
        Assert.True(rerun.Code == 0, rerun.Err);
        var summary = JsonDocument.Parse(rerun.Out).RootElement;
        Assert.Equal(total, summary.GetProperty("read").GetInt32());
        Assert.Equal(total, summary.GetProperty("inserted").GetInt32() + summary.GetProperty("duplicates").GetInt32());
        Assert.Equal(0, summary.GetProperty("updated").GetInt32());
        Assert.Equal(0, summary.GetProperty("dangling_references").GetInt32());
        var again = JsonDocument.Parse((await RunAsync("ingest", "--store", spec, "--json", file)).Out).RootElement;
        Assert.Equal(total, again.GetProperty("duplicates").GetInt32());
    }

    [Fact]
    public async Task Ingest_RefusedConnection_ExitsOne_WithAClearMessage()
    {
        var file = Path.Combine(_dir, "a.ndjson");
        await File.WriteAllTextAsync(file, TahoeJsonWriter.Write(TahoeAttribute.Create("ipv4", "1.1.1.1").Document) + "\n", Ct);

        // Port 1 on the loopback interface: nothing listens there, so the connection is refused at once.
        var (code, stdout, stderr) = await RunAsync("ingest", "--store", "postgres:Host=127.0.0.1;Port=1;Username=x;Password=secret;Timeout=5", file);

        Assert.Equal(1, code);
        Assert.Empty(stdout);
        Assert.StartsWith("error: the store is not usable:", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", stderr, StringComparison.Ordinal);
    }
}
