using System.CommandLine;
using System.Globalization;
using Cybexp.Report.Cli.Configuration;
using Cybexp.Report.Service.Worker;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report worker</c>: runs a report worker against a store until SIGINT/SIGTERM, then shuts down
/// gracefully (in-flight queries finish within the deadline, the rest go back to the queue) and exits 0.
/// </summary>
public static class WorkerCommand
{
    private const string Description = """
        Run a report worker: claim waiting queries from the store with a lease, compute their reports (several at
        once), store each report with its final status, and notify the submitter's socket. Any number of workers,
        in any number of processes or machines, may share one PostgreSQL store; each query is processed once.
        Stops on Ctrl-C or SIGTERM: no new claims, queries in flight finish within the shutdown deadline
        (Worker:ShutdownDeadline, default 10 s), the rest are released to the queue; then exit 0. Logs go to
        standard error.

        Example:
          cybexp-report worker --store postgres:Host=db;Database=cybexp;Username=report --key priv.pem --parallelism 8
        """ + "\n\n" + CybexpSettings.HelpText;

    /// <summary>Builds the <c>worker</c> command; it logs to <paramref name="io"/>'s error stream.</summary>
    public static Command Create(CliIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var store = new Option<string?>("--store") { Description = "sqlite:PATH or postgres:CONNECTION_STRING (key Store, env CYBEXP_STORE; default sqlite:cybexp-data/cybexp.db)." };
        var key = new Option<string?>("--key") { Description = "Private key PEM for encrypted query data (key Key, env CYBEXP_KEY)." };
        var parallelism = new Option<int?>("--parallelism") { Description = "Queries computed at once (key Worker:Parallelism; default 4 per processor)." };
        var lease = new Option<double?>("--lease") { Description = "Lease in seconds, renewed every fifth of it (key Worker:Lease; default 30)." };
        var poll = new Option<double?>("--poll") { Description = "Idle poll interval in seconds when no signal arrives (key Worker:Poll; default 2)." };
        var apiHost = new Option<string?>("--api-host") { Description = "Host that loopback notification addresses stand for (key ApiHost, env CYBEXP_API_HOST; default localhost)." };
        var notifyAllow = new Option<string[]>("--notify-allow")
        {
            Description = "Hosts notifications may go to besides the API host; repeat or separate with commas (key Notify:Allow; default loopback only).",
            AllowMultipleArgumentsPerToken = true,
        };
        var now = new Option<double?>("--now") { Description = "Compute every report as of this instant, in epoch seconds (key Worker:Now; for tests and replays)." };
        var graphs = new Option<int?>("--threatrank-graphs") { Description = "ThreatRank graphs built at start and kept current, one per org set, most shared first (key Worker:ThreatRankGraphs; default 4; 0 = build on first use)." };
        var command = new Command("worker", Description) { store, key, parallelism, lease, poll, apiHost, notifyAllow, now, graphs };
        command.SetAction((parseResult, cancellationToken) =>
        {
            var flags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
            {
                ["Store"] = parseResult.GetValue(store),
                ["Key"] = parseResult.GetValue(key),
                ["Worker:Parallelism"] = Invariant(parseResult.GetValue(parallelism)),
                ["Worker:Lease"] = Invariant(parseResult.GetValue(lease)),
                ["Worker:Poll"] = Invariant(parseResult.GetValue(poll)),
                ["ApiHost"] = parseResult.GetValue(apiHost),
                ["Notify:Allow"] = parseResult.GetValue(notifyAllow) is { Length: > 0 } hosts ? string.Join(',', hosts) : null,
                ["Worker:Now"] = Invariant(parseResult.GetValue(now)),
                ["Worker:ThreatRankGraphs"] = Invariant(parseResult.GetValue(graphs)),
            };
            CybexpSettings settings;
            Microsoft.Extensions.Configuration.IConfigurationRoot configuration;
            try
            {
                configuration = CybexpSettings.BuildConfiguration(flags);
                settings = CybexpSettings.Load(configuration);
            }
            catch (SettingsException e)
            {
                io.Err.WriteLine($"cybexp-report worker: {e.Message}");
                return Task.FromResult(ExitCodes.Invalid);
            }

            // System.CommandLine cancels the token on SIGINT/SIGTERM, then waits ProcessTerminationTimeout (2 s by
            // default) before it gives up on the action and lets the process exit. It reads that value only after
            // this synchronous part of the action returned, so the graceful shutdown gets its full deadline (plus the
            // time to store finished reports and release the rest).
            parseResult.InvocationConfiguration.ProcessTerminationTimeout = settings.Worker.ShutdownDeadline + TimeSpan.FromSeconds(20);
            return RunAsync(io, configuration, settings, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, Microsoft.Extensions.Configuration.IConfiguration configuration, CybexpSettings settings, CancellationToken cancellationToken)
    {
        using var logs = CliLogging.Create(io.Err, configuration, TimeProvider.System);
        Core.Crypto.QueryDecryptor? decryptor;
        try
        {
            decryptor = await ReportService.LoadKeyAsync(settings.Key, cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            io.Err.WriteLine($"cybexp-report worker: {e.Message}");
            return ExitCodes.Invalid;
        }

        using (decryptor)
        {
            try
            {
                var notifier = ReportService.CreateNotifier(settings.Notifier, logs);
                await ReportService.RunWorkerAsync(settings.Store, settings.Worker, decryptor, notifier, TimeProvider.System, logs, cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException e)
            {
                io.Err.WriteLine($"cybexp-report worker: {e.Message}");
                return ExitCodes.Invalid;
            }
        }

        return ExitCodes.Ok;
    }

    private static string? Invariant(int? value) => value?.ToString(CultureInfo.InvariantCulture);

    private static string? Invariant(double? value) => value?.ToString("R", CultureInfo.InvariantCulture);
}
