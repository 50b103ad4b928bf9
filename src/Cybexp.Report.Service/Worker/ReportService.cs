using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Notification;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Worker;

/// <summary>
/// Runs report workers inside a host (the <c>worker</c> command, or <c>serve</c> next to the HTTP API).
/// </summary>
/// <example>
/// A host that already has an open store:
/// <code>
/// var notifier = ReportService.CreateNotifier(new NotifierOptions { ApiHost = "localhost" }, logs);
/// var worker = ReportService.CreateWorker(store, new WorkerOptions(), key, notifier, TimeProvider.System, logs);
/// await worker.RunAsync(stoppingToken); // returns after a graceful shutdown once stoppingToken is cancelled
/// </code>
/// </example>
public static class ReportService
{
    /// <summary>A worker over an open store (see <see cref="ReportWorker(ICybexpStore, WorkerOptions, QueryDecryptor?, INotifier, TimeProvider, ILoggerFactory)"/>).</summary>
    public static ReportWorker CreateWorker(ICybexpStore store, WorkerOptions options, QueryDecryptor? key, INotifier notifier, TimeProvider time, ILoggerFactory logs) =>
        new(store, options, key, notifier, time, logs);

    /// <summary>The TCP notifier with <paramref name="options"/>.</summary>
    public static INotifier CreateNotifier(NotifierOptions options, ILoggerFactory logs)
    {
        ArgumentNullException.ThrowIfNull(logs);
        return new TcpNotifier(options, logs.CreateLogger<TcpNotifier>());
    }

    /// <summary>
    /// Reads the cluster's private key (PEM) from <paramref name="path"/>; null when no path is given.
    /// </summary>
    /// <exception cref="ArgumentException">The file cannot be read or holds no usable private key; the message says which and why.</exception>
    public static async Task<QueryDecryptor?> LoadKeyAsync(string? path, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        string pem;
        try
        {
            pem = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"cannot read the private key file {path}: {e.Message}", e);
        }

        return QueryDecryptor.FromPem(pem).TryGetValue(out var key, out var error)
            ? key
            : throw new ArgumentException($"the private key file {path} is not usable: {error}");
    }

    /// <summary>
    /// Opens the store named by <paramref name="storeSpec"/>, retrying with back-off while it is unreachable, runs a
    /// worker until <paramref name="stoppingToken"/> is cancelled, shuts it down gracefully and closes the store.
    /// Returns normally after cancellation, also when the store was never reached.
    /// </summary>
    /// <exception cref="ArgumentException">The store spec is malformed.</exception>
    public static async Task RunWorkerAsync(
        string storeSpec, WorkerOptions options, QueryDecryptor? key, INotifier notifier, TimeProvider time, ILoggerFactory logs, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logs);
        options.Validate();
        var log = logs.CreateLogger(typeof(ReportService).FullName!);
        var store = await OpenWithRetryAsync(storeSpec, options, time, log, stoppingToken).ConfigureAwait(false);
        if (store is null)
        {
            return;
        }

        await using (store.ConfigureAwait(false))
        {
            await CreateWorker(store, options, key, notifier, time, logs).RunAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    private static async Task<ICybexpStore?> OpenWithRetryAsync(string spec, WorkerOptions options, TimeProvider time, ILogger log, CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        while (true)
        {
            try
            {
                return await StoreLocator.OpenAsync(spec, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return null;
            }
            catch (StoreUnavailableException e)
            {
                log.LogError("cannot open the store: {Reason}; retrying in {Backoff} s", e.Message, backoff.TotalSeconds);
            }

            try
            {
                await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return null;
            }

            backoff = backoff * 2 > options.MaxBackoff ? options.MaxBackoff : backoff * 2;
        }
    }
}
