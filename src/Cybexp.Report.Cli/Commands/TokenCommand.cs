using System.CommandLine;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Http;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report token --user USER --jwt-secret S [--store S]</c>: prints an access token for the HTTP API, in the
/// original CYBEX-P form (HS256, payload <c>sub_type</c>, <c>_hash</c>, <c>jti</c>; no expiry).
/// </summary>
public static class TokenCommand
{
    /// <summary>The environment variable holding the JWT secret when <c>--jwt-secret</c> is not given.</summary>
    public const string SecretVariable = "CYBEXP_JWT_SECRET";

    /// <summary>Builds the command; it writes only to <paramref name="io"/>.</summary>
    public static Command Create(CliIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var userOption = new Option<string>("--user")
        {
            Description = "The user: its _hash or its e-mail address, as stored in the identity documents.",
            Required = true,
            HelpName = "USER",
        };
        var secretOption = new Option<string?>("--jwt-secret")
        {
            Description = $"The HS256 secret the HTTP API checks tokens with (default: ${SecretVariable}; there is no built-in secret).",
            HelpName = "SECRET",
        };
        var storeOption = new Option<string?>("--store")
        {
            Description = $"Where the users are: sqlite:PATH or postgres:CONNECTION_STRING (default: ${StoreLocator.EnvironmentVariable}, else {StoreLocator.DefaultSpec}).",
            HelpName = "STORE",
        };
        var command = new Command(
            "token",
            "Print an access token (JWT) for a user of the HTTP API on standard output.\n"
            + "Example: cybexp-report token --user alice@org1.example --jwt-secret \"$CYBEXP_JWT_SECRET\" --store sqlite:cybexp-data/cybexp.db")
        {
            userOption,
            secretOption,
            storeOption,
        };
        command.SetAction((parseResult, ct) => RunAsync(
            io,
            parseResult.GetRequiredValue(userOption),
            parseResult.GetValue(secretOption),
            parseResult.GetValue(storeOption),
            ct));
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, string user, string? secretFlag, string? storeFlag, CancellationToken ct)
    {
        var secret = !string.IsNullOrEmpty(secretFlag) ? secretFlag : Environment.GetEnvironmentVariable(SecretVariable);
        if (string.IsNullOrEmpty(secret))
        {
            await io.Err.WriteLineAsync($"a JWT secret is required: pass --jwt-secret or set {SecretVariable} (there is no default)").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        if (string.IsNullOrWhiteSpace(user))
        {
            await io.Err.WriteLineAsync("--user must name a user by _hash or e-mail address").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        var spec = StoreLocator.Resolve(storeFlag);
        ICybexpStore store;
        try
        {
            store = await StoreLocator.OpenAsync(spec, TimeProvider.System, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ArgumentException or StoreUnavailableException)
        {
            await io.Err.WriteLineAsync(e.Message).ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        await using (store.ConfigureAwait(false))
        {
            UserRecord? found;
            try
            {
                found = await store.Identity.FindUserAsync(user.Trim(), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is StoreUnavailableException or System.Data.Common.DbException)
            {
                await io.Err.WriteLineAsync($"cannot read the users of {StoreLocator.Redact(spec)}: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            if (found is null)
            {
                await io.Err.WriteLineAsync($"no CYBEX-P user has the _hash or e-mail address '{user.Trim()}' in {StoreLocator.Redact(spec)}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            await io.Out.WriteLineAsync(JwtTokens.Issue(found.Hash.Value, found.SubType, secret)).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }
}
