using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Reports;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Http;
using Cybexp.Report.Storage.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Service.Tests.Http;

/// <summary>An HTTP response read in full: status, body text and, when the body is JSON, its root.</summary>
internal sealed record ApiResponse(int Status, string Body, string? ContentType)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public string? Message => Json.TryGetProperty("message", out var m) ? m.GetString() : null;
}

/// <summary>
/// The HTTP API on real Kestrel (127.0.0.1, port 0) over a real SQLite store in a temp folder, holding the D1_tiny
/// dataset plus one user (erin) made with <see cref="TahoeUser"/> in her own org. A small in-test loop stands in for
/// the report worker: claim, <see cref="ReportRunner"/>, complete.
/// </summary>
internal sealed class ApiHarness : IAsyncDisposable
{
    public const string Secret = "http-tests-secret-0123456789abcdef";

    private readonly string _dir;
    private readonly CancellationTokenSource _stop = new();
    private readonly ReportRunner _runner;
    private Task? _worker;

    private ApiHarness(string dir, SqliteStore store, TestClock clock, WebApplication app, QueryDecryptor? decryptor)
    {
        _dir = dir;
        Store = store;
        Clock = clock;
        App = app;
        _runner = new ReportRunner(store, decryptor);
        Client = new HttpClient { BaseAddress = ReportHttpApi.BoundAddresses(app)[0], Timeout = TimeSpan.FromSeconds(90) };
    }

    public SqliteStore Store { get; }

    public TestClock Clock { get; }

    public WebApplication App { get; }

    public HttpClient Client { get; }

    public static TahoeUser Erin { get; } = TahoeUser.Create("erin@org3.example", "erin-password", "Erin");

    public static string Alice => VectorDataset.Users["alice"].Hash;

    public static string Carol => VectorDataset.Users["carol"].Hash;

    /// <summary>Starts store and API; the worker loop only when <paramref name="worker"/> is true.</summary>
    public static async Task<ApiHarness> StartAsync(bool worker = true, QueryDecryptor? decryptor = null, Func<ReportHttpApiOptions, ReportHttpApiOptions>? configure = null)
    {
        var dir = Directory.CreateTempSubdirectory("cybexp-http-").FullName;
        var clock = new TestClock(TestClock.VectorNow);
        var store = await SqliteStore.OpenAsync(Path.Combine(dir, "cybexp.db"), clock, CancellationToken.None);
        var org3 = TahoeOrg.Create("org3", [Erin], [Erin], "Org Three");
        var identity = new List<TahoeInstance> { Erin };
        identity.AddRange(Erin.Descendants);
        identity.Add(org3);
        identity.AddRange(org3.Descendants);
        var documents = VectorDataset.Documents.Concat(identity.Select(i =>
            ArchiveDocument.TryCreate(i.Document, out var doc, out var error) ? doc! : throw new InvalidDataException(error)));
        await store.Archive.WriteAsync([.. documents], CancellationToken.None);

        var options = new ReportHttpApiOptions
        {
            Urls = ["http://127.0.0.1:0"],
            JwtSecret = Secret,
            LegacyQueryWait = TimeSpan.FromSeconds(5),
        };
        var app = ReportHttpApi.Build(configure?.Invoke(options) ?? options, store, clock);
        await app.StartAsync(CancellationToken.None);
        var harness = new ApiHarness(dir, store, clock, app, decryptor);
        if (worker)
        {
            harness._worker = harness.WorkerLoopAsync(harness._stop.Token);
        }

        return harness;
    }

    public static string TokenFor(string userHash, string subType = "cybexp_user") => JwtTokens.Issue(userHash, subType, Secret);

    public Task<ApiResponse> SendAsync(HttpMethod method, string path, string? userHash, string? json = null) =>
        SendRawAsync(method, path, userHash is null ? null : new AuthenticationHeaderValue("Bearer", TokenFor(userHash)), json);

    public async Task<ApiResponse> SendRawAsync(HttpMethod method, string path, AuthenticationHeaderValue? authorization, string? json = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = authorization;
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await Client.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return new ApiResponse((int)response.StatusCode, body, response.Content.Headers.ContentType?.MediaType);
    }

    public Task<ApiResponse> PostAsync(string path, string userHash, string json) => SendAsync(HttpMethod.Post, path, userHash, json);

    public Task<ApiResponse> GetAsync(string path, string userHash) => SendAsync(HttpMethod.Get, path, userHash);

    /// <summary>Submits through <c>POST /api/v1/queries</c> and returns the new id (asserting 202).</summary>
    public async Task<long> SubmitAsync(string userHash, string json)
    {
        var accepted = await PostAsync("/api/v1/queries", userHash, json);
        Assert.True(accepted.Status == 202, accepted.Body);
        Assert.Equal("wait", accepted.Json.GetProperty("status").GetString());
        return accepted.Json.GetProperty("id").GetInt64();
    }

    /// <summary>Runs the worker step once: claims one waiting query and completes it. False when none was waiting.</summary>
    public async Task<bool> ProcessOneAsync(CancellationToken cancellationToken = default)
    {
        var claim = await Store.Queries.ClaimNextAsync("http-tests", TimeSpan.FromSeconds(30), cancellationToken);
        if (claim is null)
        {
            return false;
        }

        await CompleteAsync(claim, cancellationToken);
        return true;
    }

    /// <summary>Computes and stores the report of a claimed query.</summary>
    public async Task CompleteAsync(QueryClaim claim, CancellationToken cancellationToken = default)
    {
        var q = claim.Query;
        var outcome = await _runner.RunAsync(new QueryInput(q.QType, q.QData, q.Encrypted, q.UserId), Clock.NowSeconds(), cancellationToken);
        var stored = await Store.Queries.CompleteAsync(
            claim,
            new QueryOutcome(outcome.Status, TahoeJsonWriter.Write(outcome.Report), outcome.ReportHash, outcome.Error),
            cancellationToken);
        Assert.True(stored, $"query {claim.QueryId}: the claim was lost");
    }

    /// <summary>Every query in the store, by status.</summary>
    public async Task<long> QueryCountAsync() => (await Store.Queries.CountByStatusAsync(CancellationToken.None)).Values.Sum();

    /// <summary>
    /// Takes the SQLite file away (moved aside, a folder in its place so it cannot be re-created) until the returned
    /// handle is disposed, which puts it back.
    /// </summary>
    public IDisposable TakeStoreAway()
    {
        SqliteConnection.ClearAllPools();
        var path = Store.FilePath;
        var moved = new List<(string From, string To)>();
        foreach (var suffix in (string[])["", "-wal", "-shm"])
        {
            if (File.Exists(path + suffix))
            {
                File.Move(path + suffix, path + suffix + ".away");
                moved.Add((path + suffix, path + suffix + ".away"));
            }
        }

        Directory.CreateDirectory(path);
        return new Restore(() =>
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(path);
            foreach (var (from, to) in moved)
            {
                File.Move(to, from);
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_worker is not null)
        {
            await _worker;
        }

        Client.Dispose();
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
        await Store.DisposeAsync();
        _stop.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a pooled connection of a test running in parallel; the temp folder is harmless.
        }
    }

    private async Task WorkerLoopAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (!await ProcessOneAsync(ct))
                {
                    await Store.Queries.WaitForWorkAsync(TimeSpan.FromMilliseconds(200), ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        private Action? _undo = undo;

        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }
}
