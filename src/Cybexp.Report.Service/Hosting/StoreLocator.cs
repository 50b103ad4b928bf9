using Cybexp.Report.Core.Storage;
using Cybexp.Report.Storage.Postgres;
using Cybexp.Report.Storage.Sqlite;

namespace Cybexp.Report.Service.Hosting;

/// <summary>
/// Chooses and opens the store: <c>sqlite:PATH</c> (the embedded default) or <c>postgres:CONNECTION_STRING</c>,
/// from the <c>--store</c> flag, else the <c>CYBEXP_STORE</c> environment variable, else
/// <c>sqlite:cybexp-data/cybexp.db</c> under the current directory.
/// </summary>
public static class StoreLocator
{
    /// <summary>The environment variable naming the store.</summary>
    public const string EnvironmentVariable = "CYBEXP_STORE";

    /// <summary>The store used when nothing is configured.</summary>
    public static readonly string DefaultSpec = "sqlite:" + Path.Combine("cybexp-data", "cybexp.db");

    /// <summary>The spec in force: the flag, else the environment, else the default.</summary>
    public static string Resolve(string? flag) =>
        !string.IsNullOrWhiteSpace(flag) ? flag
        : Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } env ? env
        : DefaultSpec;

    /// <summary>Opens the store named by <paramref name="spec"/>.</summary>
    /// <exception cref="ArgumentException">The spec is neither <c>sqlite:…</c> nor <c>postgres:…</c>.</exception>
    /// <exception cref="StoreUnavailableException">The store cannot be opened.</exception>
    public static async Task<ICybexpStore> OpenAsync(string spec, TimeProvider time, CancellationToken cancellationToken)
    {
        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var kind = colon > 0 ? spec[..colon].ToLowerInvariant() : string.Empty;
        var rest = colon > 0 ? spec[(colon + 1)..] : string.Empty;
        switch (kind)
        {
            case "sqlite" when rest.Length > 0:
                return await SqliteStore.OpenAsync(rest, time, cancellationToken).ConfigureAwait(false);
            case "postgres" or "postgresql" when rest.Length > 0:
                return await PostgresStore.OpenAsync(rest, time, cancellationToken).ConfigureAwait(false);
            default:
                throw new ArgumentException(
                    $"unknown store '{Redact(spec)}': use sqlite:PATH (e.g. sqlite:cybexp-data/cybexp.db) or postgres:CONNECTION_STRING (e.g. postgres:Host=db;Database=cybexp;Username=report)");
        }
    }

    /// <summary>The spec with any password removed, for messages and logs.</summary>
    public static string Redact(string spec) =>
        System.Text.RegularExpressions.Regex.Replace(spec, "(?i)(password|pwd)=[^;]*", "$1=***");
}
