namespace Cybexp.Report.Service.Tests.Http;

/// <summary>The original CYBEX-P <c>POST /query</c>: 201 with the report, 202 check back later, same-hour de-duplication, redo.</summary>
public sealed class LegacyQueryTests
{
    private const string CountQuery = """{"type": "count", "data": {"sub_type": "ipv4", "data": "198.51.100.7"}}""";
    private const string CheckBackLater = """{"message":"check back later","status":"processing"}""";

    private static Task<ApiHarness> StartWithoutWorkerAsync() =>
        ApiHarness.StartAsync(worker: false, configure: o => o with { LegacyQueryWait = TimeSpan.FromMilliseconds(300) });

    [Fact]
    public async Task NewQuery_EndingWithinTheWait_Is201WithTheReportDocument()
    {
        await using var api = await ApiHarness.StartAsync();
        var response = await api.PostAsync("/query", ApiHarness.Carol, CountQuery);

        Assert.Equal(201, response.Status);
        Assert.Equal("report", response.Json.GetProperty("itype").GetString());
        Assert.Equal("count", response.Json.GetProperty("sub_type").GetString());
        Assert.Equal(ApiHarness.Carol, response.Json.GetProperty("userid").GetString());
        Assert.Equal(3, response.Json.GetProperty("data").GetInt32());
        Assert.Equal(64, response.Json.GetProperty("_hash").GetString()!.Length);
    }

    [Fact]
    public async Task FailedQuery_Is201WithTheFailedReport()
    {
        await using var api = await ApiHarness.StartAsync();
        var response = await api.PostAsync("/query", ApiHarness.Carol, """{"type": "count", "data": {"sub_type": "ipv4", "data": "198.51.100.7", "foo": 1}}""");

        Assert.Equal(201, response.Status);
        Assert.Contains("foo", response.Json.GetProperty("data").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SameUserSameQuerySameHour_IsOneQuery_202UntilItEnds_Then201()
    {
        await using var api = await StartWithoutWorkerAsync();

        var first = await api.PostAsync("/query", ApiHarness.Carol, CountQuery);
        Assert.Equal(202, first.Status);
        Assert.Equal(CheckBackLater, first.Body);

        // Still waiting for a worker: the same query is waited for again, not queued twice. Key order and padding
        // do not matter: the canonical text is the same.
        var again = await api.PostAsync("/query", ApiHarness.Carol, """{"data": {"data": " 198.51.100.7", "sub_type": "ipv4"}, "type": "count"}""");
        Assert.Equal(202, again.Status);
        Assert.Equal(1, await api.QueryCountAsync());

        var claim = await api.Store.Queries.ClaimNextAsync("test", TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.NotNull(claim);
        var processing = await api.PostAsync("/query", ApiHarness.Carol, CountQuery);
        Assert.Equal(202, processing.Status);
        Assert.Equal(CheckBackLater, processing.Body);

        await api.CompleteAsync(claim);
        var done = await api.PostAsync("/query", ApiHarness.Carol, CountQuery);
        Assert.Equal(201, done.Status);
        Assert.Equal(3, done.Json.GetProperty("data").GetInt32());
        Assert.Equal(1, await api.QueryCountAsync());

        // Another user, or another type, is another query.
        Assert.Equal(202, (await api.PostAsync("/query", ApiHarness.Alice, CountQuery)).Status);
        Assert.Equal(202, (await api.PostAsync("/query", ApiHarness.Carol, """{"type": "related", "data": {"sub_type": "ipv4", "data": "198.51.100.7"}}""")).Status);
        Assert.Equal(3, await api.QueryCountAsync());
    }

    [Fact]
    public async Task Redo_RecomputesTheSameQuery()
    {
        await using var api = await StartWithoutWorkerAsync();
        Assert.Equal(202, (await api.PostAsync("/query", ApiHarness.Carol, CountQuery)).Status);
        Assert.True(await api.ProcessOneAsync());
        var before = await api.PostAsync("/query", ApiHarness.Carol, CountQuery);
        Assert.Equal(201, before.Status);
        var firstTimestamp = before.Json.GetProperty("timestamp").GetDouble();

        // A falsy redo is no redo: the stored report comes back at once.
        var falsy = await api.PostAsync("/query", ApiHarness.Carol, """{"type": "count", "data": {"sub_type": "ipv4", "data": "198.51.100.7"}, "redo": 0}""");
        Assert.Equal(201, falsy.Status);
        Assert.Equal(firstTimestamp, falsy.Json.GetProperty("timestamp").GetDouble());

        api.Clock.Advance(TimeSpan.FromMinutes(1));
        var redo = await api.PostAsync("/query", ApiHarness.Carol, """{"type": "count", "data": {"sub_type": "ipv4", "data": "198.51.100.7"}, "redo": "yes"}""");
        Assert.Equal(202, redo.Status);
        Assert.Equal(1, await api.QueryCountAsync());
        var requeued = await api.Store.Queries.FindRecentAsync(ApiHarness.Carol, "count", "3ff51cd15509f27d3eca1e4df0f890110e1589c86909af1e29fb9df1110638e7", 0, CancellationToken.None);
        Assert.Equal("wait", requeued?.Status);

        Assert.True(await api.ProcessOneAsync());
        var after = await api.PostAsync("/query", ApiHarness.Carol, CountQuery);
        Assert.Equal(201, after.Status);
        Assert.True(after.Json.GetProperty("timestamp").GetDouble() >= firstTimestamp + 60);
        Assert.Equal(1, await api.QueryCountAsync());
    }

    [Fact]
    public async Task Redo_WhileAWorkerHoldsTheQuery_WaitsForThatRun()
    {
        await using var api = await StartWithoutWorkerAsync();
        Assert.Equal(202, (await api.PostAsync("/query", ApiHarness.Carol, CountQuery)).Status);
        var claim = await api.Store.Queries.ClaimNextAsync("test", TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.NotNull(claim);

        var redo = await api.PostAsync("/query", ApiHarness.Carol, """{"type": "count", "data": {"sub_type": "ipv4", "data": "198.51.100.7"}, "redo": true}""");
        Assert.Equal(202, redo.Status);
        Assert.Equal(CheckBackLater, redo.Body);
        Assert.Equal(1, await api.QueryCountAsync());

        // The claim still holds: the worker's run completes and is the answer.
        await api.CompleteAsync(claim);
        Assert.Equal(201, (await api.PostAsync("/query", ApiHarness.Carol, CountQuery)).Status);
    }

    [Fact]
    public async Task SameQueryInTheNextClockHour_IsANewQuery()
    {
        await using var api = await StartWithoutWorkerAsync();
        Assert.Equal(202, (await api.PostAsync("/query", ApiHarness.Carol, CountQuery)).Status);
        Assert.True(await api.ProcessOneAsync());
        Assert.Equal(201, (await api.PostAsync("/query", ApiHarness.Carol, CountQuery)).Status);

        api.Clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(202, (await api.PostAsync("/query", ApiHarness.Carol, CountQuery)).Status);
        Assert.Equal(2, await api.QueryCountAsync());
    }

    [Theory]
    [InlineData("""{"data": {"sub_type": "ipv4", "data": "1.1.1.1"}}""", "Invalid query format! KeyError('type')'type'")]
    [InlineData("""{"type": "count"}""", "Invalid query format! KeyError('data')'data'")]
    [InlineData("""{"type": 3, "data": {}}""", "Invalid query format! 'type' must be a string")]
    [InlineData("""["count", {}]""", "Invalid query format! the body must be a JSON object")]
    [InlineData("""type=count""", "Invalid query format! the request body is not valid JSON")]
    [InlineData("", "Invalid query format! the request body is empty")]
    public async Task BadBody_Is400InvalidQueryFormat(string body, string expected)
    {
        await using var api = await StartWithoutWorkerAsync();
        var response = await api.PostAsync("/query", ApiHarness.Carol, body);
        Assert.Equal(400, response.Status);
        Assert.StartsWith(expected, response.Message, StringComparison.Ordinal);
        Assert.Equal(0, await api.QueryCountAsync());
    }

    [Fact]
    public async Task UnknownType_IsQueuedAndEndsFailed_AsTheOriginalLeavesTypeToTheReportModule()
    {
        await using var api = await ApiHarness.StartAsync();
        var response = await api.PostAsync("/query", ApiHarness.Carol, """{"type": "foo", "data": {"sub_type": "ipv4", "data": "1.1.1.1"}}""");
        Assert.Equal(201, response.Status);
        Assert.Contains("foo", response.Json.GetProperty("data").GetString(), StringComparison.Ordinal);
    }
}
