using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Cybexp.Report.Service.Http;

/// <summary>The outcome of validating a token: the user hash it names, or why it was refused.</summary>
/// <param name="UserHash">The payload's <c>_hash</c> when valid.</param>
/// <param name="SubType">The payload's <c>sub_type</c>, when present.</param>
/// <param name="Error">Why the token was refused (for logs; clients only learn that it was), or null.</param>
public sealed record TokenValidation(string? UserHash, string? SubType, string? Error)
{
    /// <summary>True when the token is accepted.</summary>
    public bool IsValid => Error is null;
}

/// <summary>
/// CYBEX-P access tokens: HS256 JWTs whose payload is <c>{"sub_type", "_hash", "jti"}</c> (the original API's
/// identity tokens; <c>_hash</c> is the user's hash). They carry no expiry, as the original's; an <c>exp</c> or
/// <c>nbf</c> claim, when present, is honoured against the injected clock with no leeway.
/// </summary>
/// <remarks>
/// The original's secrets may be shorter than the 256 bits the token library insists on for HS256. HMAC pads a key
/// shorter than its 64-byte block with zero bytes, so a short secret padded with zeros to 32 bytes signs and verifies
/// exactly as the secret itself: tokens from an existing CYBEX-P installation stay valid.
/// </remarks>
public static class JwtTokens
{
    /// <summary>The claim holding the user's hash.</summary>
    public const string HashClaim = "_hash";

    /// <summary>The claim holding the user's sub_type (<c>cybexp_user</c> or <c>cybexp_superuser</c>).</summary>
    public const string SubTypeClaim = "sub_type";

    /// <summary>The token id claim.</summary>
    public const string IdClaim = "jti";

    private const int MinimumKeyBytes = 32;

    /// <summary>
    /// Issues a token for <paramref name="userHash"/>: header <c>{"alg":"HS256","typ":"JWT"}</c>, payload
    /// <c>{"sub_type", "_hash", "jti"}</c> (plus <c>exp</c> when <paramref name="expires"/> is given). The
    /// <c>jti</c> is a random UUID drawn from <paramref name="random"/> (the system generator when null).
    /// </summary>
    /// <exception cref="ArgumentException">The secret or the user hash is empty.</exception>
    public static string Issue(string userHash, string subType, string secret, DateTimeOffset? expires = null, RandomNumberGenerator? random = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(userHash);
        ArgumentException.ThrowIfNullOrEmpty(subType);
        RequireSecret(secret);
        var claims = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            [SubTypeClaim] = subType,
            [HashClaim] = userHash,
            [IdClaim] = NewJti(random),
        };
        if (expires is { } exp)
        {
            claims[JwtRegisteredClaimNames.Exp] = exp.ToUnixTimeSeconds();
        }

        var descriptor = new SecurityTokenDescriptor
        {
            Claims = claims,
            SigningCredentials = new SigningCredentials(KeyOf(secret), SecurityAlgorithms.HmacSha256),
        };
        var handler = new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false };
        return handler.CreateToken(descriptor);
    }

    /// <summary>Validates <paramref name="token"/> (the text after <c>Bearer </c>) with <paramref name="secret"/> as of <paramref name="time"/>.</summary>
    public static async Task<TokenValidation> ValidateAsync(string token, string secret, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(token);
        RequireSecret(secret);
        cancellationToken.ThrowIfCancellationRequested();
        var parameters = new TokenValidationParameters
        {
            IssuerSigningKey = KeyOf(secret),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ValidateIssuerSigningKey = true,
            RequireSignedTokens = true,
            ValidateIssuer = false,
            ValidateAudience = false,
            ValidateLifetime = true,
            RequireExpirationTime = false,
            ClockSkew = TimeSpan.Zero,
            LifetimeValidator = (notBefore, expires, _, _) => WithinLifetime(notBefore, expires, time),
        };
        var handler = new JsonWebTokenHandler { MapInboundClaims = false };
        var result = await handler.ValidateTokenAsync(token, parameters).ConfigureAwait(false);
        if (!result.IsValid)
        {
            return new TokenValidation(null, null, result.Exception?.GetType().Name ?? "invalid token");
        }

        var hash = ClaimText(result.ClaimsIdentity, HashClaim);
        if (string.IsNullOrEmpty(hash))
        {
            return new TokenValidation(null, null, "the token has no _hash claim");
        }

        return new TokenValidation(hash, ClaimText(result.ClaimsIdentity, SubTypeClaim), null);
    }

    // exp and nbf are optional (the original's tokens have neither); present ones are checked without leeway.
    private static bool WithinLifetime(DateTime? notBefore, DateTime? expires, TimeProvider time)
    {
        var now = time.GetUtcNow().UtcDateTime;
        return (notBefore is not { } nbf || nbf <= now) && (expires is not { } exp || now < exp);
    }

    private static string? ClaimText(ClaimsIdentity identity, string type) =>
        identity.FindFirst(type) is { ValueType: ClaimValueTypes.String } claim ? claim.Value : null;

    private static void RequireSecret(string secret)
    {
        if (string.IsNullOrEmpty(secret))
        {
            throw new ArgumentException("a JWT secret is required (there is no default)", nameof(secret));
        }
    }

    private static SymmetricSecurityKey KeyOf(string secret)
    {
        var bytes = Encoding.UTF8.GetBytes(secret);
        if (bytes.Length < MinimumKeyBytes)
        {
            // Zero padding up to the HMAC block size leaves the HMAC unchanged (see the remarks above).
            Array.Resize(ref bytes, MinimumKeyBytes);
        }

        return new SymmetricSecurityKey(bytes);
    }

    private static string NewJti(RandomNumberGenerator? random)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (random is null)
        {
            RandomNumberGenerator.Fill(bytes);
        }
        else
        {
            random.GetBytes(bytes);
        }

        // A version-4 UUID, as Python's uuid4() gives the original's jti.
        bytes[6] = (byte)((bytes[6] & 0x0f) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3f) | 0x80);
        var hex = Convert.ToHexStringLower(bytes);
        return string.Join('-', hex[..8], hex[8..12], hex[12..16], hex[16..20], hex[20..]);
    }
}
