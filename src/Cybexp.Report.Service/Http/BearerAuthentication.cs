using System.Data.Common;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Http;

/// <summary>
/// The original API's <c>validate_user</c>: <c>Authorization: Bearer &lt;JWT&gt;</c>, HS256 with the configured
/// secret, user looked up by the payload's <c>_hash</c>, and its exact 401 and 500 messages.
/// </summary>
internal sealed class BearerAuthentication(string secret, IIdentityStore identity, TimeProvider time, ILogger log) : IEndpointFilter
{
    public const string NotBearer = "Token must be of type Bearer!";
    public const string UnknownUser = "User does not exist!";
    public const string InvalidOrMissing = "Invalid/missing token in auth header!";
    public const string DatabaseDown = "Authentication database down!";

    private const string UserItem = "cybexp.user";

    /// <summary>The user the request was authenticated as (set by this filter before any handler runs).</summary>
    public static UserRecord UserOf(HttpContext context) =>
        context.Items[UserItem] as UserRecord ?? throw new InvalidOperationException("the request was not authenticated");

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var header = http.Request.Headers.Authorization.ToString().Trim();
        if (header.Length == 0)
        {
            return Unauthorized(InvalidOrMissing);
        }

        var space = header.IndexOf(' ', StringComparison.Ordinal);
        var scheme = space < 0 ? header : header[..space];
        if (!scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return Unauthorized(NotBearer);
        }

        var token = space < 0 ? string.Empty : header[(space + 1)..].Trim();
        if (token.Length == 0)
        {
            return Unauthorized(InvalidOrMissing);
        }

        var validation = await JwtTokens.ValidateAsync(token, secret, time, http.RequestAborted).ConfigureAwait(false);
        if (!validation.IsValid)
        {
            log.LogInformation("refused a token: {Reason}", validation.Error);
            return Unauthorized(InvalidOrMissing);
        }

        // Looked up by hash only: an e-mail address in _hash must not match a user.
        if (!InstanceHash.TryParse(validation.UserHash, out var hash))
        {
            return Unauthorized(UnknownUser);
        }

        UserRecord? user;
        try
        {
            user = await identity.FindUserAsync(hash.Value, http.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StoreUnavailableException or DbException or TimeoutException)
        {
            log.LogError(e, "the identity store did not answer");
            return ApiResults.Message(StatusCodes.Status500InternalServerError, DatabaseDown);
        }

        if (user is null || user.Hash != hash)
        {
            return Unauthorized(UnknownUser);
        }

        http.Items[UserItem] = user;
        return await next(context).ConfigureAwait(false);
    }

    private static IResult Unauthorized(string message) => ApiResults.Message(StatusCodes.Status401Unauthorized, message);
}
