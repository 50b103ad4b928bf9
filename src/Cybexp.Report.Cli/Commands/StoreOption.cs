using System.CommandLine;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Service.Hosting;

namespace Cybexp.Report.Cli.Commands;

/// <summary>The <c>--store</c> option every store-using command shares, and opening the store it names.</summary>
internal static class StoreOption
{
    /// <summary>A new <c>--store</c> option (each command needs its own instance).</summary>
    public static Option<string?> Create() => new("--store")
    {
        Description = $"The store: sqlite:PATH or postgres:CONNECTION_STRING. Default: the {StoreLocator.EnvironmentVariable} environment variable, else {StoreLocator.DefaultSpec}.",
    };

    /// <summary>
    /// Opens the store named by <paramref name="flag"/> (else <c>CYBEXP_STORE</c>, else the default). When
    /// <paramref name="announce"/> is set, prints <c>store: DESCRIPTION</c> (the SQLite file's full path, or the
    /// PostgreSQL host and database) to standard error. On failure prints a message naming the store and returns null.
    /// </summary>
    public static async Task<ICybexpStore?> OpenAsync(string? flag, CliIo io, bool announce, CancellationToken cancellationToken)
    {
        var spec = StoreLocator.Resolve(flag);
        try
        {
            var store = await StoreLocator.OpenAsync(spec, TimeProvider.System, cancellationToken).ConfigureAwait(false);
            if (announce)
            {
                await io.Err.WriteLineAsync($"store: {store.Description}".AsMemory(), cancellationToken).ConfigureAwait(false);
            }

            return store;
        }
        catch (StoreUnavailableException e)
        {
            await io.Err.WriteLineAsync($"error: the store is not usable: {e.Message}".AsMemory(), cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            await io.Err.WriteLineAsync($"error: {e.Message}".AsMemory(), cancellationToken).ConfigureAwait(false);
        }

        return null;
    }
}
