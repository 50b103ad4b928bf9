using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Service.Tests.Http;

/// <summary><c>/api/v1/queries</c> through real HTTP: submit, follow, fetch the report, and the bad input list.</summary>
public sealed class QueryApiTests
{
    private const string CountQuery = """{"type": "count", "data": {"sub_type": "ipv4", "data": "198.51.100.7"}}""";

    [Fact]
    public async Task Count_SubmitWaitReport_GivesTheVectorCount()
    {
        await using var api = await ApiHarness.StartAsync();
        var id = await api.SubmitAsync(ApiHarness.Carol, CountQuery);

        var state = await api.GetAsync($"/api/v1/queries/{id}?wait=30", ApiHarness.Carol);
        Assert.Equal(200, state.Status);
        Assert.Equal("ready", state.Json.GetProperty("status").GetString());
        Assert.Equal("count", state.Json.GetProperty("type").GetString());
        Assert.Equal(id, state.Json.GetProperty("id").GetInt64());
        Assert.True(state.Json.GetProperty("finished").GetDouble() >= state.Json.GetProperty("submitted").GetDouble());

        var report = await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Carol);
        Assert.Equal(200, report.Status);
        Assert.Equal("application/json", report.ContentType);
        Assert.Equal("report", report.Json.GetProperty("itype").GetString());
        Assert.Equal("count", report.Json.GetProperty("sub_type").GetString());
        Assert.Equal(ApiHarness.Carol, report.Json.GetProperty("userid").GetString());
        Assert.Equal(3, report.Json.GetProperty("data").GetInt32()); // D1_tiny-q001
    }

    [Fact]
    public async Task Submit_StoresCanonicalQueryDataAndTheOriginalQHash()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var id = await api.SubmitAsync(ApiHarness.Carol, """{"type": "count", "data": {"sub_type": "ipv4", "data": "  198.51.100.7 "}}""");

        var stored = await api.Store.Queries.GetAsync(id, CancellationToken.None);
        Assert.NotNull(stored);
        // D1_tiny-q006: canonical() strips the padding; qhash as the original computes it.
        Assert.Equal("{\"data\": \"\\\"198.51.100.7\\\"\", \"sub_type\": \"\\\"ipv4\\\"\"}", stored.QData);
        Assert.Equal("3ff51cd15509f27d3eca1e4df0f890110e1589c86909af1e29fb9df1110638e7", stored.QHash);
        Assert.False(stored.Encrypted);
        Assert.Equal(ApiHarness.Carol, stored.UserId);
        Assert.Null(stored.Notify);
    }

    [Fact]
    public async Task Submit_Answers202WithTheIdAndItsLocation()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/queries") { Content = new StringContent(CountQuery, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiHarness.TokenFor(ApiHarness.Carol));
        using var response = await api.Client.SendAsync(request);

        Assert.Equal(202, (int)response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        var id = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("id").GetInt64();
        Assert.Equal($$"""{"id":{{id}},"status":"wait"}""", body);
        Assert.Equal($"/api/v1/queries/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("wait", (await api.GetAsync($"/api/v1/queries/{id}", ApiHarness.Carol)).Json.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Related_SubmitWaitReport_GivesTheVectorSummary()
    {
        await using var api = await ApiHarness.StartAsync();
        var id = await api.SubmitAsync(ApiHarness.Carol, """{"type": "related", "data": {"sub_type": "ipv4", "data": "198.51.100.7", "level": 2}}""");

        var state = await api.GetAsync($"/api/v1/queries/{id}?wait=30", ApiHarness.Carol);
        Assert.Equal("ready", state.Json.GetProperty("status").GetString());
        var report = await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Carol);
        Assert.Equal(200, report.Status);
        var data = report.Json.GetProperty("data");
        // D1_tiny-q026: summary by sub_type, level 2.
        Assert.Equal(["invoice.pdf.exe"], data.GetProperty("filename").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["evil.example"], data.GetProperty("domain").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["http://evil.example/invoice.pdf.exe"], data.GetProperty("url").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["srv1.org1.example"], data.GetProperty("hostname").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1, report.Json.GetProperty("current_page").GetInt32());
    }

    [Fact]
    public async Task ThreatRank_SubmitWaitReport_GivesTheReferenceRank()
    {
        await using var api = await ApiHarness.StartAsync();
        var id = await api.SubmitAsync(ApiHarness.Alice, """{"type": "threatrank", "data": {"_hash": "bdb22ec3c42aa67d9fe12cc43fbb720078dae10b8694ff7e813c8d695ae90f18"}}""");

        var state = await api.GetAsync($"/api/v1/queries/{id}?wait=30", ApiHarness.Alice);
        Assert.True(state.Json.GetProperty("status").GetString() == "ready", state.Body);
        var report = await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Alice);
        Assert.Equal("threatrank", report.Json.GetProperty("sub_type").GetString());
        // threatrank.json: D1_tiny, alice, this event.
        Assert.Equal(-0.029175675704891366, report.Json.GetProperty("data").GetDouble(), 1e-12);
    }

    [Fact]
    public async Task InvalidQueryData_EndsFailed_WithTheWorkersMessageInStatusAndReport()
    {
        await using var api = await ApiHarness.StartAsync();
        var id = await api.SubmitAsync(ApiHarness.Carol, """{"type": "related", "data": {"sub_type": "ipv4", "data": "198.51.100.7", "level": 4}}""");

        var state = await api.GetAsync($"/api/v1/queries/{id}?wait=30", ApiHarness.Carol);
        Assert.Equal("failed", state.Json.GetProperty("status").GetString());
        Assert.Contains("level", state.Json.GetProperty("error").GetString(), StringComparison.Ordinal);
        var report = await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Carol);
        Assert.Equal(200, report.Status);
        Assert.Contains("level", report.Json.GetProperty("data").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encrypted_Submission_IsStoredAsGivenAndDecryptedByTheWorker()
    {
        var keys = RsaKeyPair.Generate();
        using var decryptor = QueryDecryptor.FromPem(keys.PrivateKeyPem).TryGetValue(out var d, out var e) ? d : throw new InvalidOperationException(e);
        using var encryptor = QueryEncryptor.FromPem(keys.PublicKeyPem).TryGetValue(out var en, out var e2) ? en : throw new InvalidOperationException(e2);
        var plaintext = Canonical.Of(PythonJson.Parse("""{"sub_type": "ipv4", "data": "198.51.100.7"}"""));
        var blob = QueryCiphertext.FromBytes(encryptor.Encrypt(plaintext)).ToBase64();
        await using var api = await ApiHarness.StartAsync(decryptor: decryptor);

        var id = await api.SubmitAsync(ApiHarness.Carol, $$$"""{"type": "count", "encrypted": "{{{blob}}}", "notify": {"host": "localhost", "port": 5000, "nonce": "0123456789abcdef0123456789abcdef"}}""");
        var stored = await api.Store.Queries.GetAsync(id, CancellationToken.None);
        Assert.NotNull(stored);
        Assert.True(stored.Encrypted);
        Assert.Equal(blob, stored.QData);
        Assert.Null(stored.QHash);
        Assert.Equal(new Core.Storage.NotifySocket("localhost", 5000, "0123456789abcdef0123456789abcdef"), stored.Notify);

        var state = await api.GetAsync($"/api/v1/queries/{id}?wait=30", ApiHarness.Carol);
        Assert.True(state.Json.GetProperty("status").GetString() == "ready", state.Body);
        var report = await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Carol);
        Assert.Equal(3, report.Json.GetProperty("data").GetInt32());
    }

    [Theory]
    [InlineData("""[1, 2]""", "JSON object")]
    [InlineData("""{"data": {"sub_type": "ipv4", "data": "1.1.1.1"}}""", "'type' must be count, related or threatrank")]
    [InlineData("""{"type": "sum", "data": {"sub_type": "ipv4", "data": "1.1.1.1"}}""", "'type' must be count, related or threatrank")]
    [InlineData("""{"type": 5, "data": {}}""", "'type' must be count, related or threatrank")]
    [InlineData("""{"type": "count"}""", "give exactly one of 'data' and 'encrypted'")]
    [InlineData("""{"type": "count", "data": {}, "encrypted": "AAAA"}""", "give exactly one of 'data' and 'encrypted'")]
    [InlineData("""{"type": "count", "data": "1.1.1.1"}""", "'data' must be a JSON object")]
    [InlineData("""{"type": "count", "data": [1]}""", "'data' must be a JSON object")]
    [InlineData("""{"type": "count", "encrypted": 12}""", "'encrypted' must be the base64 text")]
    [InlineData("""{"type": "count", "encrypted": "not base64!"}""", "'encrypted' must be the base64 text")]
    [InlineData("""{"type": "count", "data": {}, "redo": true}""", "unknown field 'redo'")]
    [InlineData("""{"type": "count", "data": {}, "notify": 5}""", "'notify' must be an object")]
    [InlineData("""{"type": "count", "data": {}, "notify": {"host": "localhost", "port": 0, "nonce": "n"}}""", "'notify.port' must be an integer from 1 to 65535")]
    [InlineData("""{"type": "count", "data": {}, "notify": {"host": "localhost", "port": 65536, "nonce": "n"}}""", "'notify.port' must be an integer from 1 to 65535")]
    [InlineData("""{"type": "count", "data": {}, "notify": {"host": "localhost", "port": 80.5, "nonce": "n"}}""", "'notify.port' must be an integer from 1 to 65535")]
    [InlineData("""{"type": "count", "data": {}, "notify": {"host": "", "port": 80, "nonce": "n"}}""", "'notify.host'")]
    [InlineData("""{"type": "count", "data": {}, "notify": {"host": "localhost", "port": 80}}""", "'notify.nonce' must be a string of 1 to 64 characters")]
    [InlineData("""{"type": "count", "data": {}, "notify": {"host": "localhost", "port": 80, "nonce": "01234567890123456789012345678901234567890123456789012345678901234"}}""", "'notify.nonce' must be a string of 1 to 64 characters")]
    [InlineData("""{"type": "count", "data": {}, "notify": {"host": "h", "port": 80, "nonce": "n", "x": 1}}""", "unknown field 'notify.x'")]
    [InlineData("""{"type": "count", "type": "count", "data": {}}""", "not valid JSON")]
    [InlineData("""{"type": "count", "data": {""", "not valid JSON")]
    [InlineData("""garbage""", "not valid JSON")]
    [InlineData("", "empty")]
    public async Task Submit_BadBody_Is400NamingTheProblem(string body, string expected)
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var response = await api.PostAsync("/api/v1/queries", ApiHarness.Carol, body);
        Assert.Equal(400, response.Status);
        Assert.Contains(expected, response.Message, StringComparison.Ordinal);
        Assert.Equal(0, await api.QueryCountAsync());
    }

    [Fact]
    public async Task Submit_BodyThatIsNotUtf8_Is400()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/queries")
        {
            Content = new ByteArrayContent([0x7b, 0xff, 0xfe, 0x7d]),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiHarness.TokenFor(ApiHarness.Carol));
        using var response = await api.Client.SendAsync(request);
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains("UTF-8", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_TwoMegabyteBody_Is413WithAJsonMessage()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var big = "{\"type\": \"count\", \"data\": {\"sub_type\": \"ipv4\", \"data\": \"1.1.1.1\", \"pad\": \"" + new string('x', 2 * 1024 * 1024) + "\"}}";

        var response = await api.PostAsync("/api/v1/queries", ApiHarness.Carol, big);
        Assert.Equal(413, response.Status);
        Assert.Contains("larger than the limit of 1048576 bytes", response.Message, StringComparison.Ordinal);

        // A client that asks before sending (Expect: 100-continue, as curl does for large bodies) gets the same answer.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/queries") { Content = new StringContent(big, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiHarness.TokenFor(ApiHarness.Carol));
        using var expecting = await api.Client.SendAsync(request);
        Assert.Equal(413, (int)expecting.StatusCode);

        // The same size sent chunked (no Content-Length) is counted while read.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/api/v1/queries") { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big))) };
        chunked.Headers.TransferEncodingChunked = true;
        chunked.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiHarness.TokenFor(ApiHarness.Carol));
        using var chunkedResponse = await api.Client.SendAsync(chunked);
        Assert.Equal(413, (int)chunkedResponse.StatusCode);

        Assert.Equal(0, await api.QueryCountAsync());
        Assert.Equal(200, (await api.SendAsync(HttpMethod.Get, "/ping", null)).Status);
    }

    [Fact]
    public async Task Submit_BodyJustUnderTheLimit_IsAccepted()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var prefix = "{\"type\": \"count\", \"data\": {\"sub_type\": \"ipv4\", \"data\": \"1.1.1.1\", \"pad\": \"";
        var body = prefix + new string('x', (1024 * 1024) - prefix.Length - 3) + "\"}}";
        Assert.Equal(1024 * 1024, Encoding.UTF8.GetByteCount(body));
        Assert.Equal(202, (await api.PostAsync("/api/v1/queries", ApiHarness.Carol, body)).Status);
    }

    [Fact]
    public async Task Report_BeforeTheQueryEnds_Is404NamingTheStatus()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var id = await api.SubmitAsync(ApiHarness.Carol, CountQuery);

        var waiting = await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Carol);
        Assert.Equal(404, waiting.Status);
        Assert.Equal("no report yet: the query is wait", waiting.Message);

        var claim = await api.Store.Queries.ClaimNextAsync("test", TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.NotNull(claim);
        var processing = await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Carol);
        Assert.Equal("no report yet: the query is processing", processing.Message);
        var state = await api.GetAsync($"/api/v1/queries/{id}", ApiHarness.Carol);
        Assert.Equal("processing", state.Json.GetProperty("status").GetString());
        Assert.False(state.Json.TryGetProperty("finished", out _));

        await api.CompleteAsync(claim);
        Assert.Equal(200, (await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Carol)).Status);
    }

    [Fact]
    public async Task Status_WithWait_AnswersAsSoonAsTheQueryEnds()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var id = await api.SubmitAsync(ApiHarness.Carol, CountQuery);

        var started = api.Clock.GetTimestamp();
        var waiting = api.GetAsync($"/api/v1/queries/{id}?wait=60", ApiHarness.Carol);
        await Task.Delay(300);
        Assert.False(waiting.IsCompleted);
        Assert.True(await api.ProcessOneAsync());

        var state = await waiting;
        Assert.Equal("ready", state.Json.GetProperty("status").GetString());
        Assert.True(api.Clock.GetElapsedTime(started) < TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Status_WithShortWait_AnswersTheCurrentStatusWhenItRunsOut()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var id = await api.SubmitAsync(ApiHarness.Carol, CountQuery);
        var state = await api.GetAsync($"/api/v1/queries/{id}?wait=0.3", ApiHarness.Carol);
        Assert.Equal(200, state.Status);
        Assert.Equal("wait", state.Json.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("61")]
    [InlineData("-1")]
    [InlineData("soon")]
    [InlineData("")]
    [InlineData("NaN")]
    public async Task Status_WaitOutsideZeroToSixty_Is400(string wait)
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var id = await api.SubmitAsync(ApiHarness.Carol, CountQuery);
        var response = await api.GetAsync($"/api/v1/queries/{id}?wait={Uri.EscapeDataString(wait)}", ApiHarness.Carol);
        Assert.Equal(400, response.Status);
        Assert.Equal("'wait' must be a number of seconds from 0 to 60", response.Message);
    }

    [Theory]
    [InlineData("/api/v1/queries/999999")]
    [InlineData("/api/v1/queries/999999/report")]
    public async Task UnknownQueryId_Is404(string path)
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var response = await api.GetAsync(path, ApiHarness.Carol);
        Assert.Equal(404, response.Status);
        Assert.Equal("no query with id 999999", response.Message);
    }

    [Theory]
    [InlineData("/api/v1/queries/abc")]
    [InlineData("/api/v1/queries/-3")]
    [InlineData("/api/v1/queries/0/report")]
    [InlineData("/api/v1/queries/99999999999999999999999")]
    public async Task NonNumericQueryId_Is400(string path)
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var response = await api.GetAsync(path, ApiHarness.Carol);
        Assert.Equal(400, response.Status);
        Assert.StartsWith("the query id must be a positive integer", response.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnotherUsersQuery_Is404LikeAMissingOne()
    {
        await using var api = await ApiHarness.StartAsync();
        var id = await api.SubmitAsync(ApiHarness.Carol, CountQuery);
        Assert.Equal(200, (await api.GetAsync($"/api/v1/queries/{id}?wait=30", ApiHarness.Carol)).Status);

        var erin = ApiHarness.Erin.Hash.Value;
        var status = await api.GetAsync($"/api/v1/queries/{id}", erin);
        var report = await api.GetAsync($"/api/v1/queries/{id}/report", erin);
        Assert.Equal(404, status.Status);
        Assert.Equal(404, report.Status);
        Assert.Equal($"no query with id {id.ToString(CultureInfo.InvariantCulture)}", status.Message);
        Assert.Equal(status.Message, report.Message);
    }

    [Fact]
    public async Task ClientDisconnectingWhileWaiting_LeavesTheServiceAndTheQueryIntact()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var id = await api.SubmitAsync(ApiHarness.Carol, CountQuery);

        using (var gone = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => api.SendRawAsync(
                HttpMethod.Get,
                $"/api/v1/queries/{id}?wait=60",
                new AuthenticationHeaderValue("Bearer", ApiHarness.TokenFor(ApiHarness.Carol)),
                cancellationToken: gone.Token));
        }

        Assert.True(await api.ProcessOneAsync());
        var state = await api.GetAsync($"/api/v1/queries/{id}?wait=5", ApiHarness.Carol);
        Assert.Equal("ready", state.Json.GetProperty("status").GetString());
        Assert.Equal(1, await api.QueryCountAsync());
    }

    [Fact]
    public async Task StoreGone_AnswersTheOriginalsDatabaseDown_AndTheServiceRecoversWhenItComesBack()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        // Every request looks its user up first, so an outage shows as the original's identity message.
        using (api.TakeStoreAway())
        {
            var response = await api.PostAsync("/api/v1/queries", ApiHarness.Carol, CountQuery);
            Assert.Equal(500, response.Status);
            Assert.Equal("Authentication database down!", response.Message);
            Assert.Equal(0, (await api.SendAsync(HttpMethod.Get, "/ping", null)).Status - 200);
        }

        var id = await api.SubmitAsync(ApiHarness.Carol, CountQuery);
        Assert.True(await api.ProcessOneAsync());
        Assert.Equal(200, (await api.GetAsync($"/api/v1/queries/{id}/report", ApiHarness.Carol)).Status);
    }
}
