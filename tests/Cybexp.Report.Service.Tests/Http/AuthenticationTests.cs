using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cybexp.Report.Service.Http;

namespace Cybexp.Report.Service.Tests.Http;

/// <summary>Bearer JWT authentication with the original API's 401 messages, and the token format itself.</summary>
public sealed class AuthenticationTests
{
    private const string InvalidOrMissing = "Invalid/missing token in auth header!";

    public static TheoryData<string, string> ProtectedEndpoints => new()
    {
        { "POST", "/api/v1/queries" },
        { "GET", "/api/v1/queries/1" },
        { "GET", "/api/v1/queries/1/report" },
        { "POST", "/query" },
    };

    [Theory]
    [MemberData(nameof(ProtectedEndpoints))]
    public async Task NoAuthorizationHeader_Is401InvalidOrMissing(string method, string path)
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var response = await api.SendRawAsync(new HttpMethod(method), path, null, method == "POST" ? "{}" : null);
        Assert.Equal(401, response.Status);
        Assert.Equal("""{"message":"Invalid/missing token in auth header!"}""", response.Body);
    }

    [Fact]
    public async Task NotBearer_Is401TokenMustBeOfTypeBearer()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var token = ApiHarness.TokenFor(ApiHarness.Carol);
        var response = await api.SendRawAsync(HttpMethod.Get, "/api/v1/queries/1", new AuthenticationHeaderValue("Token", token));
        Assert.Equal(401, response.Status);
        Assert.Equal("""{"message":"Token must be of type Bearer!"}""", response.Body);
        var basic = await api.SendRawAsync(HttpMethod.Get, "/api/v1/queries/1", new AuthenticationHeaderValue("Basic", "YWxpY2U6c2VjcmV0"));
        Assert.Equal("Token must be of type Bearer!", basic.Message);
    }

    public static TheoryData<string> BadTokens()
    {
        var carol = ApiHarness.Carol;
        return new TheoryData<string>
        {
            "garbage",
            "a.b.c",
            JwtTokens.Issue(carol, "cybexp_user", "another-secret-of-the-same-length!"),
            // Signed with the right secret, then the payload swapped for another user's: the signature no longer matches.
            SwapPayload(ApiHarness.TokenFor(carol), ApiHarness.TokenFor(ApiHarness.Alice)),
            Unsigned(carol),
            HandSigned("""{"alg":"HS512","typ":"JWT"}""", $$"""{"_hash":"{{carol}}"}""", ApiHarness.Secret, HMACSHA512.HashData),
            // Valid signature, but no _hash claim, or a _hash that is not a string.
            HandSigned("""{"alg":"HS256","typ":"JWT"}""", """{"sub_type":"cybexp_user","jti":"x"}""", ApiHarness.Secret, HMACSHA256.HashData),
            HandSigned("""{"alg":"HS256","typ":"JWT"}""", """{"_hash":12}""", ApiHarness.Secret, HMACSHA256.HashData),
        };
    }

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task ForgedOrMalformedToken_Is401InvalidOrMissing(string token)
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var response = await api.SendRawAsync(HttpMethod.Get, "/api/v1/queries/1", new AuthenticationHeaderValue("Bearer", token));
        Assert.Equal(401, response.Status);
        Assert.Equal(InvalidOrMissing, response.Message);
    }

    [Fact]
    public async Task BearerWithoutToken_Is401InvalidOrMissing()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/queries/1");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer");
        using var response = await api.Client.SendAsync(request);
        Assert.Equal(401, (int)response.StatusCode);
        Assert.Contains(InvalidOrMissing, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidTokenOfAnUnknownUser_Is401UserDoesNotExist()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var stranger = Convert.ToHexStringLower(SHA256.HashData("objectcybexp_userstranger@nowhere.example"u8));
        foreach (var hash in new[] { stranger, VectorDataset.Users["carol"].Email })
        {
            var token = JwtTokens.Issue(hash, "cybexp_user", ApiHarness.Secret);
            var response = await api.SendRawAsync(HttpMethod.Get, "/api/v1/queries/1", new AuthenticationHeaderValue("Bearer", token));
            Assert.Equal(401, response.Status);
            Assert.Equal("""{"message":"User does not exist!"}""", response.Body);
        }
    }

    [Fact]
    public async Task ExpiredToken_Is401_AndOneNotYetExpiredIsAccepted()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var now = api.Clock.GetUtcNow();
        var expired = JwtTokens.Issue(ApiHarness.Carol, "cybexp_user", ApiHarness.Secret, expires: now - TimeSpan.FromMinutes(1));
        var fresh = JwtTokens.Issue(ApiHarness.Carol, "cybexp_user", ApiHarness.Secret, expires: now + TimeSpan.FromMinutes(10));

        var refused = await api.SendRawAsync(HttpMethod.Get, "/api/v1/queries/1", new AuthenticationHeaderValue("Bearer", expired));
        Assert.Equal(401, refused.Status);
        Assert.Equal(InvalidOrMissing, refused.Message);
        var accepted = await api.SendRawAsync(HttpMethod.Get, "/api/v1/queries/1", new AuthenticationHeaderValue("Bearer", fresh));
        Assert.Equal(404, accepted.Status);

        // The API's clock decides, not the machine's: an hour later the fresh token has expired too.
        api.Clock.Advance(TimeSpan.FromHours(1));
        var later = await api.SendRawAsync(HttpMethod.Get, "/api/v1/queries/1", new AuthenticationHeaderValue("Bearer", fresh));
        Assert.Equal(401, later.Status);
    }

    [Fact]
    public async Task TokenWithoutExpiry_AsTheOriginalIssuesThem_IsAccepted()
    {
        await using var api = await ApiHarness.StartAsync(worker: false);
        var token = HandSigned("""{"typ":"JWT","alg":"HS256"}""", $$"""{"sub_type":"cybexp_user","_hash":"{{ApiHarness.Carol}}","jti":"5b1f2c0e-1d8a-4a51-9a3c-0c6f0e7d2b11"}""", ApiHarness.Secret, HMACSHA256.HashData);
        var response = await api.SendRawAsync(HttpMethod.Get, "/api/v1/queries/1", new AuthenticationHeaderValue("Bearer", token));
        Assert.Equal(404, response.Status);
    }

    [Fact]
    public async Task Issue_GivesTheOriginalPayloadShape()
    {
        var token = JwtTokens.Issue(ApiHarness.Carol, "cybexp_superuser", "secret");
        var parts = token.Split('.');
        Assert.Equal(3, parts.Length);
        using var header = JsonDocument.Parse(Base64Url(parts[0]));
        Assert.Equal("HS256", header.RootElement.GetProperty("alg").GetString());
        using var payload = JsonDocument.Parse(Base64Url(parts[1]));
        Assert.Equal(["_hash", "jti", "sub_type"], payload.RootElement.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(ApiHarness.Carol, payload.RootElement.GetProperty("_hash").GetString());
        Assert.Equal("cybexp_superuser", payload.RootElement.GetProperty("sub_type").GetString());
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", payload.RootElement.GetProperty("jti").GetString());
        Assert.NotEqual(token, JwtTokens.Issue(ApiHarness.Carol, "cybexp_superuser", "secret"));

        // The original's default secret is 6 bytes: the signature is plain HMAC-SHA256 with those bytes.
        var expected = HMACSHA256.HashData("secret"u8, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
        Assert.Equal(Convert.ToBase64String(expected).TrimEnd('=').Replace('+', '-').Replace('/', '_'), parts[2]);
        var validated = await JwtTokens.ValidateAsync(token, "secret", TimeProvider.System, CancellationToken.None);
        Assert.True(validated.IsValid);
        Assert.Equal(ApiHarness.Carol, validated.UserHash);
    }

    [Fact]
    public async Task Validate_AcceptsATokenHandSignedWithAShortSecret_AndRefusesItWithAnother()
    {
        var token = HandSigned("""{"typ":"JWT","alg":"HS256"}""", """{"sub_type":"cybexp_user","_hash":"abc","jti":"j"}""", "secret", HMACSHA256.HashData);
        Assert.True((await JwtTokens.ValidateAsync(token, "secret", TimeProvider.System, CancellationToken.None)).IsValid);
        Assert.False((await JwtTokens.ValidateAsync(token, "secreT", TimeProvider.System, CancellationToken.None)).IsValid);
    }

    [Fact]
    public void Issue_WithoutSecret_Throws()
    {
        Assert.Throws<ArgumentException>(() => JwtTokens.Issue(ApiHarness.Carol, "cybexp_user", ""));
    }

    private static byte[] Base64Url(string s) => Convert.FromBase64String(s.Replace('-', '+').Replace('_', '/').PadRight((s.Length + 3) / 4 * 4, '='));

    private static string ToBase64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string HandSigned(string header, string payload, string secret, Func<byte[], byte[], byte[]> mac)
    {
        var signingInput = ToBase64Url(Encoding.UTF8.GetBytes(header)) + "." + ToBase64Url(Encoding.UTF8.GetBytes(payload));
        return signingInput + "." + ToBase64Url(mac(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(signingInput)));
    }

    private static string Unsigned(string userHash) =>
        ToBase64Url("""{"alg":"none","typ":"JWT"}"""u8.ToArray()) + "." + ToBase64Url(Encoding.UTF8.GetBytes($$"""{"_hash":"{{userHash}}"}""")) + ".";

    private static string SwapPayload(string signed, string other)
    {
        var a = signed.Split('.');
        var b = other.Split('.');
        return a[0] + "." + b[1] + "." + a[2];
    }
}
