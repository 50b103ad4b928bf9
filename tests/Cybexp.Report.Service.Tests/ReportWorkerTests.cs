using System.Globalization;
using System.Text.Json;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Reports;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Tests;

namespace Cybexp.Report.Service.Tests;

/// <summary>The worker over SQLite with a golden dataset: queued queries end ready or failed as the vectors say, and bad queries never stop it.</summary>
public sealed class ReportWorkerTests
{
    private const string Dataset = "D2_small";

    private static readonly WorkerOptions Options = new() { FixedNow = SqliteStoreFixture.VectorNow, Parallelism = 4, PollInterval = TimeSpan.FromSeconds(1) };

    private static JsonElement Vectors(string file) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "vectors", file))).RootElement;

    private static string Carol => Datasets.Named(Dataset).Users["carol"].Value;

    [Fact]
    public async Task QueuedCountQueries_EndReady_WithTheVectorCounts()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync(Dataset);
        await using var worker = fx.Start(Options);
        var cases = Vectors("reports.json").GetProperty("queries").EnumerateArray()
            .Where(q => q.GetProperty("dataset").GetString() == Dataset &&
                        q.GetProperty("query").GetProperty("qtype").GetString() == "count" &&
                        !q.GetProperty("query").GetProperty("encrypted").GetBoolean() &&
                        q.GetProperty("result").GetProperty("tdql_status").GetString() == "ready")
            .ToList();
        Assert.NotEmpty(cases);
        var ids = new List<(string Case, long Id, long Expected)>();
        foreach (var c in cases)
        {
            var q = c.GetProperty("query");
            var id = await fx.EnqueueAsync("count", q.GetProperty("tdql_qdata").GetString()!, q.GetProperty("userid").GetString()!);
            ids.Add((c.GetProperty("id").GetString()!, id, c.GetProperty("result").GetProperty("data_normalized").GetInt64()));
        }

        foreach (var (name, id, expected) in ids)
        {
            var record = await fx.EndedAsync(id);
            Assert.True(record.Status == QueryStatus.Ready, $"{name}: {record.Status} {record.Error}");
            var report = SqliteStoreFixture.Report(record);
            Assert.Equal(expected, SqliteStoreFixture.Long(report["data"]!));
            Assert.Equal(record.ReportHash, report["_hash"]!.AsString);
            Assert.Equal(1, record.Attempts);
        }

        // The worker counts a report after its store call returns, which may be just after the waiter saw it end.
        await LeaseTests.WaitForAsync(() => worker.Worker.Counters.Ready >= ids.Count);
        Assert.Equal(ids.Count, worker.Worker.Counters.Ready);
    }

    [Fact]
    public async Task QueuedThreatRankQueries_EndWithTheReferenceScores()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync(Dataset);
        await using var worker = fx.Start(Options);
        var cases = Vectors("threatrank.json").GetProperty("cases").EnumerateArray()
            .Where(c => c.GetProperty("dataset").GetString() == Dataset && c.GetProperty("max_hops").GetInt32() == 3 && c.GetProperty("decay").GetDouble() == 0.998)
            .Take(12)
            .ToList();
        Assert.Contains(cases, c => c.GetProperty("expected").GetProperty("status").GetString() == "ready");
        Assert.Contains(cases, c => c.GetProperty("expected").GetProperty("status").GetString() == "failed");
        var ids = new List<(JsonElement Case, long Id)>();
        foreach (var c in cases)
        {
            var qdata = SqliteStoreFixture.Canonical($$"""{"_hash": "{{c.GetProperty("event").GetString()}}", "decay": 0.998, "max_hops": 3}""");
            ids.Add((c, await fx.EnqueueAsync("threatrank", qdata, c.GetProperty("userid").GetString()!)));
        }

        foreach (var (c, id) in ids)
        {
            var record = await fx.EndedAsync(id);
            var expected = c.GetProperty("expected");
            var label = $"{c.GetProperty("user").GetString()} {c.GetProperty("event").GetString()}";
            Assert.True(expected.GetProperty("status").GetString() == record.Status, $"{label}: {record.Status} {record.Error}");
            if (record.Status == QueryStatus.Ready)
            {
                var score = SqliteStoreFixture.Number(SqliteStoreFixture.Report(record)["data"]!);
                var want = expected.GetProperty("threatrank").GetDouble();
                Assert.True(Math.Abs(score - want) <= Math.Max(1e-12, 1e-9 * Math.Abs(want)), $"{label}: {score} != {want}");
            }
            else
            {
                Assert.Contains("no event", record.Error, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task QueuedRelatedQueries_StoreExactlyTheReportTheRunnerComputes()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync(Dataset);
        await using var worker = fx.Start(Options);
        var cases = Vectors("reports.json").GetProperty("queries").EnumerateArray()
            .Where(q => q.GetProperty("dataset").GetString() == Dataset &&
                        q.GetProperty("query").GetProperty("qtype").GetString() == "related" &&
                        q.GetProperty("result").GetProperty("tdql_status").GetString() == "ready")
            .ToList();
        Assert.NotEmpty(cases);
        var ids = new List<(string Case, QueryInput Input, long Id)>();
        foreach (var c in cases)
        {
            var q = c.GetProperty("query");
            var input = new QueryInput("related", q.GetProperty("tdql_qdata").GetString()!, false, q.GetProperty("userid").GetString()!);
            ids.Add((c.GetProperty("id").GetString()!, input, await fx.EnqueueAsync(input.QType, input.QData, input.UserId)));
        }

        var runner = new ReportRunner(fx.Store, null);
        foreach (var (name, input, id) in ids)
        {
            var record = await fx.EndedAsync(id);
            Assert.True(record.Status == QueryStatus.Ready, $"{name}: {record.Status} {record.Error}");
            var direct = await runner.RunAsync(input, SqliteStoreFixture.VectorNow, SqliteStoreFixture.Ct);
            Assert.Equal(TahoeJsonWriter.Write(direct.Report), record.ReportJson);
        }
    }

    [Fact]
    public async Task QueryEnqueuedWhileAClaimFindsNothing_IsTakenAtOnce_NotAfterThePollInterval()
    {
        // The enqueue (and its in-process signal) lands after the claim looked and before the worker starts to
        // wait; with an hour's poll interval only the signal can wake the worker.
        await using var fx = await SqliteStoreFixture.CreateAsync(Dataset);
        var enqueued = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var scripted = new ScriptedStore(fx.Store)
        {
            AfterFirstEmptyClaim = async () => enqueued.SetResult(await fx.EnqueueAsync("count", """{"data": "198.51.100.7", "sub_type": "ipv4"}""", Carol)),
        };
        await using var worker = fx.Start(Options with { PollInterval = TimeSpan.FromHours(1) }, through: scripted);
        var id = await enqueued.Task.WaitAsync(TimeSpan.FromSeconds(30), SqliteStoreFixture.Ct);
        var record = await fx.EndedAsync(id);
        Assert.Equal(QueryStatus.Ready, record.Status);
    }

    [Fact]
    public async Task BadQueries_EndFailedWithClearMessages_AndTheWorkerGoesOn()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        using var key = QueryDecryptor.FromPem(CryptoVectorKeys.PrivatePem).Value;
        await using var worker = fx.Start(Options, key);
        var good = SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7"}""");
        using var strangerKey = new QueryEncryptor(RsaKeyPair.Generate(2048).PublicKeyPem);
        var wrongKeyBlob = Convert.ToBase64String(strangerKey.Encrypt(good));
        var unknownUser = new string('a', 64);

        var malformed = await fx.EnqueueAsync("count", "{this is not json", Carol);
        var missingField = await fx.EnqueueAsync("count", SqliteStoreFixture.Canonical("""{"sub_type": "ipv4"}"""), Carol);
        var badType = await fx.EnqueueAsync("nonsense", good, Carol);
        var stranger = await fx.EnqueueAsync("count", good, unknownUser);
        var wrongKey = await fx.EnqueueAsync("count", wrongKeyBlob, Carol, encrypted: true);
        var garbage = await fx.EnqueueAsync("count", "b'\\x00\\x01'", Carol, encrypted: true);
        var after = await fx.EnqueueAsync("count", good, Carol);

        var m = await fx.EndedAsync(malformed);
        Assert.Equal(QueryStatus.Failed, m.Status);
        Assert.Contains("JSON", m.Error, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(m.Error, SqliteStoreFixture.Report(m)["data"]!.AsString);

        var f = await fx.EndedAsync(missingField);
        Assert.Equal(QueryStatus.Failed, f.Status);
        Assert.Contains("'data'", f.Error, StringComparison.Ordinal);

        var t = await fx.EndedAsync(badType);
        Assert.Equal(QueryStatus.Failed, t.Status);
        Assert.Contains("qtype", t.Error, StringComparison.Ordinal);

        var u = await fx.EndedAsync(stranger);
        Assert.Equal(QueryStatus.Failed, u.Status);
        Assert.Contains("unknown user", u.Error, StringComparison.Ordinal);

        var w = await fx.EndedAsync(wrongKey);
        Assert.Equal(QueryStatus.Failed, w.Status);
        Assert.Contains("key unwrap", w.Error, StringComparison.Ordinal);

        var g = await fx.EndedAsync(garbage);
        Assert.Equal(QueryStatus.Failed, g.Status);
        Assert.Contains("decrypt", g.Error, StringComparison.Ordinal);

        var a = await fx.EndedAsync(after);
        Assert.Equal(QueryStatus.Ready, a.Status);
        Assert.Equal(3, SqliteStoreFixture.Long(SqliteStoreFixture.Report(a)["data"]!));
        Assert.False(worker.Run.IsCompleted);
        // A worker counts a query once its completion's round trip has returned, which may be just after the query
        // is seen ended (several completions share a round trip).
        await LeaseTests.WaitForAsync(() => worker.Worker.Counters.Ready + worker.Worker.Counters.Failed >= 7);
        Assert.Equal(new WorkerCounters(1, 6, 0, 0), worker.Worker.Counters);
    }

    [Fact]
    public async Task EncryptedQueries_AreDecryptedAndRun()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync(Dataset);
        using var key = QueryDecryptor.FromPem(CryptoVectorKeys.PrivatePem).Value;
        await using var worker = fx.Start(Options, key);
        using var encryptor = new QueryEncryptor(CryptoVectorKeys.PublicPem);
        var blob = encryptor.Encrypt(SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7", "category": "malicious"}"""));
        var base64 = await fx.EnqueueAsync("count", Convert.ToBase64String(blob), Carol, encrypted: true);

        // The original stores str(bytes): a Python bytes literal.
        var literal = "b'" + string.Concat(blob.Select(b => "\\x" + b.ToString("x2", CultureInfo.InvariantCulture))) + "'";
        var bytesLiteral = await fx.EnqueueAsync("count", literal, Carol, encrypted: true);

        var plainId = await fx.EnqueueAsync("count", SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7", "category": "malicious"}"""), Carol);
        var plain = await fx.EndedAsync(plainId);
        foreach (var id in new[] { base64, bytesLiteral })
        {
            var record = await fx.EndedAsync(id);
            Assert.True(record.Status == QueryStatus.Ready, record.Error);
            Assert.Equal(SqliteStoreFixture.Long(SqliteStoreFixture.Report(plain)["data"]!), SqliteStoreFixture.Long(SqliteStoreFixture.Report(record)["data"]!));
        }
    }

    [Fact]
    public async Task EncryptedQuery_WithoutAKey_FailsSayingSo()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync(Dataset);
        await using var worker = fx.Start(Options);
        using var encryptor = new QueryEncryptor(CryptoVectorKeys.PublicPem);
        var blob = encryptor.Encrypt(SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7"}"""));
        var record = await fx.EndedAsync(await fx.EnqueueAsync("count", Convert.ToBase64String(blob), Carol, encrypted: true));
        Assert.Equal(QueryStatus.Failed, record.Status);
        Assert.Contains("no private key", record.Error, StringComparison.Ordinal);
    }
}

/// <summary>The key pair of tests/vectors/crypto.json.</summary>
internal static class CryptoVectorKeys
{
    private static readonly Lazy<JsonElement> Root = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "vectors", "crypto.json"))).RootElement);

    public static string PrivatePem => Root.Value.GetProperty("private_key_pem").GetString()!;

    public static string PublicPem => Root.Value.GetProperty("public_key_pem").GetString()!;
}
