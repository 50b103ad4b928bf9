using System.CommandLine;
using System.Globalization;
using Cybexp.Report.Cli.Configuration;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Http;
using Cybexp.Report.Service.Worker;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report serve</c>: the report service in one process — the HTTP API and a report worker on one store —
/// until SIGINT/SIGTERM.
/// </summary>
public static class ServeCommand
{
    private const string Description = """
        Run the report service: the HTTP API (queries, reports, the original POST /query, /ping, /healthz,
        /openapi/v1.json) and a report worker, on one store, until Ctrl-C or SIGTERM (graceful: queries in flight
        finish or go back to the queue). Needs a JWT secret (--jwt-secret or CYBEXP_JWT_SECRET; there is no default):
        clients send 'Authorization: Bearer <token>' with tokens from 'cybexp-report token'.
        More workers may join from other processes or machines with 'cybexp-report worker' on the same PostgreSQL store.

        Example:
          export CYBEXP_JWT_SECRET=change-me
          cybexp-report serve --http http://127.0.0.1:8080 --store sqlite:cybexp-data/cybexp.db
        """ + "\n\n" + CybexpSettings.HelpText + "\nServe keys: Http (URL), JwtSecret (env CYBEXP_JWT_SECRET).";

    /// <summary>Builds the command.</summary>
    public static Command Create(CliIo io)
    {
        var store = new Option<string?>("--store") { Description = "sqlite:PATH or postgres:CONNECTION_STRING (key Store, env CYBEXP_STORE)." };
        var http = new Option<string?>("--http") { Description = $"Listen URL, http://HOST:PORT (key Http; default {ReportHttpApiOptions.DefaultUrl})." };
        var secret = new Option<string?>("--jwt-secret") { Description = "Secret that signs access tokens (HS256; key JwtSecret, env CYBEXP_JWT_SECRET). Required." };
        var key = new Option<string?>("--key") { Description = "Private key PEM for encrypted query data (key Key, env CYBEXP_KEY)." };
        var parallelism = new Option<int?>("--parallelism") { Description = "Queries computed at once (key Worker:Parallelism)." };
        var apiHost = new Option<string?>("--api-host") { Description = "Host that loopback notification addresses stand for (key ApiHost)." };
        var notifyAllow = new Option<string[]>("--notify-allow") { Description = "Hosts notifications may go to besides loopback (key Notify:Allow).", AllowMultipleArgumentsPerToken = true };
        var now = new Option<double?>("--now") { Description = "Compute every report as of this instant, epoch seconds (key Worker:Now)." };
        var command = new Command("serve", Description) { store, http, secret, key, parallelism, apiHost, notifyAllow, now };
        command.SetAction((p, ct) =>
        {
            var flags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
            {
                ["Store"] = p.GetValue(store),
                ["Http"] = p.GetValue(http),
                ["JwtSecret"] = p.GetValue(secret),
                ["Key"] = p.GetValue(key),
                ["Worker:Parallelism"] = p.GetValue(parallelism)?.ToString(CultureInfo.InvariantCulture),
                ["ApiHost"] = p.GetValue(apiHost),
                ["Notify:Allow"] = p.GetValue(notifyAllow) is { Length: > 0 } hosts ? string.Join(',', hosts) : null,
                ["Worker:Now"] = p.GetValue(now)?.ToString("R", CultureInfo.InvariantCulture),
            };
            IConfigurationRoot configuration;
            CybexpSettings settings;
            try
            {
                configuration = CybexpSettings.BuildConfiguration(flags);
                settings = CybexpSettings.Load(configuration);
            }
            catch (SettingsException e)
            {
                io.Err.WriteLine($"cybexp-report serve: {e.Message}");
                return Task.FromResult(ExitCodes.Invalid);
            }

            var jwt = configuration["JwtSecret"];
            if (string.IsNullOrEmpty(jwt))
            {
                io.Err.WriteLine("cybexp-report serve: no JWT secret: give --jwt-secret or set CYBEXP_JWT_SECRET (there is no default secret)");
                return Task.FromResult(ExitCodes.Invalid);
            }

            p.InvocationConfiguration.ProcessTerminationTimeout = settings.Worker.ShutdownDeadline + TimeSpan.FromSeconds(20);
            var options = new ReportHttpApiOptions { Urls = [configuration["Http"] ?? ReportHttpApiOptions.DefaultUrl], JwtSecret = jwt };
            return RunAsync(io, configuration, settings, options, ct);
        });
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, IConfiguration configuration, CybexpSettings settings, ReportHttpApiOptions options, CancellationToken ct)
    {
        using var logs = CliLogging.Create(io.Err, configuration, TimeProvider.System);
        QueryDecryptor? decryptor;
        ICybexpStore db;
        try
        {
            decryptor = await ReportService.LoadKeyAsync(settings.Key, ct).ConfigureAwait(false);
            db = await StoreLocator.OpenAsync(settings.Store, TimeProvider.System, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ArgumentException or StoreUnavailableException)
        {
            await io.Err.WriteLineAsync($"cybexp-report serve: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        using (decryptor)
        await using (db.ConfigureAwait(false))
        {
            await io.Err.WriteLineAsync($"store: {db.Description}").ConfigureAwait(false);
            try
            {
                await using var service = await ServiceHost.StartAsync(db, settings, options, decryptor, logs, ct).ConfigureAwait(false);
                await io.Err.WriteLineAsync($"listening on {service.Url}").ConfigureAwait(false);
                await service.RunUntilCancelledAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ArgumentException or IOException)
            {
                await io.Err.WriteLineAsync($"cybexp-report serve: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        }

        return ExitCodes.Ok;
    }
}

/// <summary>The HTTP API and a report worker running together on one store (used by <c>serve</c> and <c>demo</c>).</summary>
public sealed class ServiceHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop;
    private readonly Task _worker;

    private ServiceHost(WebApplication app, CancellationTokenSource stop, Task worker, Uri url)
    {
        _app = app;
        _stop = stop;
        _worker = worker;
        Url = url;
    }

    /// <summary>The address the API listens on.</summary>
    public Uri Url { get; }

    /// <summary>Starts the API and the worker.</summary>
    public static async Task<ServiceHost> StartAsync(ICybexpStore store, CybexpSettings settings, ReportHttpApiOptions options, QueryDecryptor? decryptor, ILoggerFactory logs, CancellationToken ct)
    {
        var app = ReportHttpApi.Build(options, store, TimeProvider.System, logs);
        await app.StartAsync(ct).ConfigureAwait(false);
        var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var notifier = ReportService.CreateNotifier(settings.Notifier, logs);
        var worker = ReportService.CreateWorker(store, settings.Worker, decryptor, notifier, TimeProvider.System, logs).RunAsync(stop.Token);
        return new ServiceHost(app, stop, worker, ReportHttpApi.BoundAddresses(app)[0]);
    }

    /// <summary>Waits until <paramref name="ct"/> is cancelled (Ctrl-C, SIGTERM) or the web host stops.</summary>
    public async Task RunUntilCancelledAsync(CancellationToken ct)
    {
        // The web host handles SIGTERM too, and when its handler takes the signal the command's token may never be
        // cancelled: the host's stopping token then ends the wait.
        using var either = CancellationTokenSource.CreateLinkedTokenSource(ct, _app.Lifetime.ApplicationStopping);
        try
        {
            await Task.Delay(Timeout.Infinite, either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // shutting down
        }
    }

    /// <summary>Stops the worker gracefully (in-flight queries finish or are released), then the API.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _worker.ConfigureAwait(false);
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
