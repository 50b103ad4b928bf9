using System.Net.Sockets;
using Cybexp.Report.Service.Http;
using Cybexp.Report.Storage.Sqlite;

namespace Cybexp.Report.Service.Tests.Http;

/// <summary>Hosting (build, start, bound address, stop), <c>/ping</c>, <c>/healthz</c>, the OpenAPI document and unknown paths.</summary>
public sealed class ServiceEndpointTests
{
    [Fact]
    public async Task Ping_AnswersPong_WithoutAToken()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var response = await api.SendAsync(HttpMethod.Get, "/ping", null);
        Assert.Equal(200, response.Status);
        Assert.Equal("""{"message":"pong"}""", response.Body);
    }

    [Fact]
    public async Task Healthz_Is200WhileTheStoreAnswers_503WhileItIsGone_And200WhenItIsBack()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var up = await api.SendAsync(HttpMethod.Get, "/healthz", null);
        Assert.Equal(200, up.Status);
        Assert.Equal("""{"status":"ok","store":"sqlite"}""", up.Body);

        using (api.TakeStoreAway())
        {
            var down = await api.SendAsync(HttpMethod.Get, "/healthz", null);
            Assert.Equal(503, down.Status);
            Assert.Equal("""{"status":"unavailable","store":"sqlite"}""", down.Body);
        }

        Assert.Equal(200, (await api.SendAsync(HttpMethod.Get, "/healthz", null)).Status);
        Assert.Equal(404, (await api.GetAsync("/api/v1/queries/1", ApiHarness.Carol)).Status);
    }

    [Fact]
    public async Task OpenApiDocument_IsServedWithoutAToken_AndDescribesTheEndpoints()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var response = await api.SendAsync(HttpMethod.Get, "/openapi/v1.json", null);
        Assert.Equal(200, response.Status);
        var doc = response.Json;
        Assert.StartsWith("3.", doc.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        var paths = doc.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/queries", "/api/v1/queries/{id}", "/api/v1/queries/{id}/report", "/query", "/ping", "/healthz" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"the document lacks {path}");
        }

        var submit = paths.GetProperty("/api/v1/queries").GetProperty("post");
        Assert.True(submit.GetProperty("requestBody").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.True(submit.GetProperty("responses").TryGetProperty("202", out _));
        Assert.True(submit.GetProperty("responses").TryGetProperty("413", out _));
        Assert.Equal("bearer", doc.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("scheme").GetString());
        Assert.True(submit.GetProperty("security")[0].TryGetProperty("bearer", out _));
        Assert.False(paths.GetProperty("/ping").GetProperty("get").TryGetProperty("security", out _));
    }

    [Fact]
    public async Task UnknownPath_Is404WithAJsonMessage()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var response = await api.SendAsync(HttpMethod.Get, "/api/v2/nothing", null);
        Assert.Equal(404, response.Status);
        Assert.StartsWith("no such endpoint", response.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "/query", "POST")]
    [InlineData("DELETE", "/api/v1/queries/7", "GET")]
    [InlineData("PUT", "/api/v1/queries", "POST")]
    [InlineData("POST", "/ping", "GET")]
    public async Task KnownPath_WithAnotherMethod_Is405WithAllow(string method, string path, string allow)
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        using var response = await api.Client.SendAsync(request);
        Assert.Equal(405, (int)response.StatusCode);
        Assert.Equal([allow], response.Content.Headers.Allow.Concat(response.Headers.TryGetValues("Allow", out var a) ? a : []).Distinct());
        Assert.Contains($"method {method} is not allowed on {path}", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Build_WithoutASecret_RefusesWithAClearMessage()
    {
        await using var store = await OpenTempStoreAsync();
        foreach (var secret in new[] { null, "" })
        {
            var e = Assert.Throws<ArgumentException>(() => ReportHttpApi.Build(new ReportHttpApiOptions { JwtSecret = secret, Urls = ["http://127.0.0.1:0"] }, store.Store, TimeProvider.System));
            Assert.Contains("--jwt-secret", e.Message, StringComparison.Ordinal);
            Assert.Contains("CYBEXP_JWT_SECRET", e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("127.0.0.1:8080")]
    [InlineData("https://127.0.0.1:0")]
    [InlineData("http://127.0.0.1:0/api")]
    [InlineData("ftp://127.0.0.1:21")]
    public async Task Build_WithABadListenUrl_RefusesNamingIt(string url)
    {
        await using var store = await OpenTempStoreAsync();
        var e = Assert.Throws<ArgumentException>(() => ReportHttpApi.Build(new ReportHttpApiOptions { JwtSecret = "s", Urls = [url] }, store.Store, TimeProvider.System));
        Assert.Contains(url, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuildStartStop_ExposesTheBoundPort_AndStopsListening()
    {
        await using var store = await OpenTempStoreAsync();
        var app = ReportHttpApi.Build(new ReportHttpApiOptions { JwtSecret = "s", Urls = ["http://127.0.0.1:0"] }, store.Store, TimeProvider.System);
        await using (app)
        {
            Assert.Throws<InvalidOperationException>(() => ReportHttpApi.BoundAddresses(app));
            await app.StartAsync(CancellationToken.None);
            var address = Assert.Single(ReportHttpApi.BoundAddresses(app));
            Assert.Equal("127.0.0.1", address.Host);
            Assert.NotEqual(0, address.Port);

            using var client = new HttpClient { BaseAddress = address };
            Assert.Equal("""{"message":"pong"}""", await client.GetStringAsync(new Uri("/ping", UriKind.Relative)));

            await app.StopAsync(CancellationToken.None);
            using var fresh = new HttpClient { BaseAddress = address };
            await Assert.ThrowsAsync<HttpRequestException>(() => fresh.GetStringAsync(new Uri("/ping", UriKind.Relative)));
        }
    }

    private static async Task<TempStore> OpenTempStoreAsync()
    {
        var dir = Directory.CreateTempSubdirectory("cybexp-http-build-").FullName;
        return new TempStore(dir, await SqliteStore.OpenAsync(Path.Combine(dir, "cybexp.db"), TimeProvider.System, CancellationToken.None));
    }

    /// <summary>A store in its own temp folder, removed with it.</summary>
    private sealed class TempStore(string dir, SqliteStore store) : IAsyncDisposable
    {
        public SqliteStore Store => store;

        public async ValueTask DisposeAsync()
        {
            await store.DisposeAsync();
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Still held by a pooled connection of a test running in parallel; a temp folder is harmless.
            }
        }
    }
}
