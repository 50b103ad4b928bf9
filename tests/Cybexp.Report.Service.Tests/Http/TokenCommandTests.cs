using System.Net.Http.Headers;
using Cybexp.Report.Cli;
using Cybexp.Report.Service.Http;

namespace Cybexp.Report.Service.Tests.Http;

/// <summary>
/// <c>cybexp-report token</c>, run in-process against the API's own SQLite file. The tests that touch
/// <c>CYBEXP_JWT_SECRET</c> live in this class only, so they never run at the same time.
/// </summary>
public sealed class TokenCommandTests
{
    private sealed record Run(int ExitCode, string Out, string Err);

    private static async Task<Run> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, stdout, stderr, new StringReader(string.Empty));
        return new Run(code, stdout.ToString(), stderr.ToString());
    }

    [Theory]
    [InlineData("carol@both.example")]
    [InlineData("3f9f485f834dff148588d432d04d15ba717a314911520d91cb8b4420da2348b7")]
    [InlineData("3F9F485F834DFF148588D432D04D15BA717A314911520D91CB8B4420DA2348B7")]
    public async Task Token_ForAUserByEmailOrHash_PrintsAJwtTheApiAccepts(string user)
    {
        await using var api = await ApiHarness.StartAsync();
        var run = await RunAsync("token", "--user", user, "--jwt-secret", ApiHarness.Secret, "--store", "sqlite:" + api.Store.FilePath);
        Assert.True(run.ExitCode == 0, run.Err);
        Assert.Equal(string.Empty, run.Err);
        var token = run.Out.TrimEnd('\n', '\r');
        Assert.DoesNotContain('\n', token);

        var validated = await JwtTokens.ValidateAsync(token, ApiHarness.Secret, api.Clock, CancellationToken.None);
        Assert.Equal(ApiHarness.Carol, validated.UserHash);
        Assert.Equal("cybexp_user", validated.SubType);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/query")
        {
            Content = new StringContent("""{"type": "count", "data": {"sub_type": "ipv4", "data": "198.51.100.7"}}"""),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await api.Client.SendAsync(request);
        Assert.Equal(201, (int)response.StatusCode);
    }

    [Fact]
    public async Task Token_ForAnUnknownUser_Exits1WithAMessageAndPrintsNothing()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var run = await RunAsync("token", "--user", "nobody@nowhere.example", "--jwt-secret", ApiHarness.Secret, "--store", "sqlite:" + api.Store.FilePath);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal(string.Empty, run.Out);
        Assert.Contains("no CYBEX-P user has the _hash or e-mail address 'nobody@nowhere.example'", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_SecretFromTheEnvironment_AndNoneAtAll()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var before = Environment.GetEnvironmentVariable("CYBEXP_JWT_SECRET");
        try
        {
            Environment.SetEnvironmentVariable("CYBEXP_JWT_SECRET", null);
            var none = await RunAsync("token", "--user", "carol@both.example", "--store", "sqlite:" + api.Store.FilePath);
            Assert.Equal(1, none.ExitCode);
            Assert.Equal(string.Empty, none.Out);
            Assert.Contains("--jwt-secret", none.Err, StringComparison.Ordinal);
            Assert.Contains("CYBEXP_JWT_SECRET", none.Err, StringComparison.Ordinal);

            Environment.SetEnvironmentVariable("CYBEXP_JWT_SECRET", "from-the-environment");
            var env = await RunAsync("token", "--user", "carol@both.example", "--store", "sqlite:" + api.Store.FilePath);
            Assert.True(env.ExitCode == 0, env.Err);
            Assert.True((await JwtTokens.ValidateAsync(env.Out.Trim(), "from-the-environment", api.Clock, CancellationToken.None)).IsValid);

            // The flag wins over the environment.
            var flag = await RunAsync("token", "--user", "carol@both.example", "--jwt-secret", ApiHarness.Secret, "--store", "sqlite:" + api.Store.FilePath);
            Assert.True((await JwtTokens.ValidateAsync(flag.Out.Trim(), ApiHarness.Secret, api.Clock, CancellationToken.None)).IsValid);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CYBEXP_JWT_SECRET", before);
        }
    }

    [Fact]
    public async Task Token_WithAnUnknownStoreKind_Exits1NamingTheAcceptedForms()
    {
        var run = await RunAsync("token", "--user", "carol@both.example", "--jwt-secret", "s", "--store", "mongodb://localhost");
        Assert.Equal(1, run.ExitCode);
        Assert.Equal(string.Empty, run.Out);
        Assert.Contains("sqlite:PATH", run.Err, StringComparison.Ordinal);
    }
}
