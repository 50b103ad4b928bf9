using System.CommandLine;
using System.Data.Common;
using System.Globalization;
using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Ingest;
using Spectre.Console;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report ingest [--store S] [--json] [--batch N] FILE…</c>: streams TAHOE documents into the archive in
/// batched transactions, verifying every <c>_hash</c>; rejects go to <c>FILE.rejects.ndjson</c>.
/// </summary>
public static class IngestCommand
{
    private const string Description = """
        Store TAHOE documents (every format 'verify' reads: NDJSON, JSON arrays, concatenated documents, mongoexport
        Extended JSON), CYBEX-P identity documents (users, orgs) included, in the archive. '-' reads standard input.
        Documents are written in transactions of --batch documents (default: 80000 on SQLite and 20000 on PostgreSQL,
        whose writers hold only the transaction's index rows in memory): an interrupted ingest keeps whole batches only,
        and running it again stores nothing twice (a document already stored counts as a duplicate; one whose _hash
        is stored with other content, e.g. a new category or session events, replaces the stored mutable fields and
        counts as updated). Every _hash is recomputed; a document that fails is not stored and is written, with the
        reason, as one line {"line":L,"reason":R,"document":{...}|null} to FILE.rejects.ndjson next to FILE
        (stdin.rejects.ndjson in the current folder for standard input); a rejects file from an earlier run is removed
        when nothing is rejected. Events whose children are not stored are kept and counted as dangling references.
        The store in use is printed to standard error; a progress bar is shown on a terminal only.
        Output: a summary; with --json one object {"read":N,"inserted":N,"duplicates":N,"updated":N,"rejected":N,
        "dangling_references":N}.
        Exit status: 0 nothing rejected; 3 some document rejected; 1 an input could not be read or the store is not
        usable (what was committed before stays consistent; run the same ingest again to finish).
        """;

    /// <summary>Builds the <c>ingest</c> command; it writes to <paramref name="io"/> only.</summary>
    public static Command Create(CliIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var files = new Argument<string[]>("FILE")
        {
            Arity = ArgumentArity.OneOrMore,
            Description = "Files to ingest; '-' reads standard input.",
        };
        var store = StoreOption.Create();
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON object." };
        var batch = new Option<int?>("--batch")
        {
            Description = "Documents per transaction (default: the store's, 80000 on SQLite, 20000 on PostgreSQL).",
        };
        var command = new Command("ingest", Description) { files, store, json, batch };
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            io,
            parseResult.GetValue(files) ?? [],
            parseResult.GetValue(store),
            parseResult.GetValue(json),
            parseResult.GetValue(batch),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, string[] files, string? storeFlag, bool json, int? batch, CancellationToken cancellationToken)
    {
        if (batch is < 1)
        {
            await io.Err.WriteLineAsync("error: --batch must be at least 1".AsMemory(), cancellationToken).ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        await using var store = await StoreOption.OpenAsync(storeFlag, io, announce: true, cancellationToken).ConfigureAwait(false);
        if (store is null)
        {
            return ExitCodes.Failure;
        }

        var sources = new IngestSources(io, files);
        IngestSummary summary;
        using var gc = ThroughputGc.Enter();
        try
        {
            var ingestor = new ArchiveIngestor(store.Archive, batch);
            summary = await WithProgressAsync(io, sources, report =>
                    ingestor.IngestAsync(sources.ReadAsync(report, cancellationToken), sources.RejectAsync, progress: null, cancellationToken))
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is StoreUnavailableException or DbException or TimeoutException)
        {
            await io.Err.WriteLineAsync(
                $"error: the store failed during the ingest: {e.Message}. Every batch written before the failure stays committed; run the same ingest again to finish (stored documents count as duplicates).".AsMemory(),
                cancellationToken).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        finally
        {
            await sources.DisposeAsync().ConfigureAwait(false);
        }

        await WriteSummaryAsync(io, summary, json, sources, cancellationToken).ConfigureAwait(false);
        return sources.Failed ? ExitCodes.Failure : summary.Rejected > 0 ? ExitCodes.Problems : ExitCodes.Ok;
    }

    /// <summary>Runs the ingest under a progress bar on standard error when both outputs are a terminal.</summary>
    private static async Task<IngestSummary> WithProgressAsync(CliIo io, IngestSources sources, Func<Action<long, long>?, Task<IngestSummary>> run)
    {
        var terminal = ReferenceEquals(io.Out, Console.Out) && ReferenceEquals(io.Err, Console.Error)
            && !Console.IsOutputRedirected && !Console.IsErrorRedirected;
        if (!terminal)
        {
            return await run(null).ConfigureAwait(false);
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var total = sources.TotalBytes;
                var task = ctx.AddTask("ingest", maxValue: Math.Max(1, total ?? 1));
                task.IsIndeterminate = total is null;
                var summary = await run((bytes, documents) =>
                {
                    task.Value = Math.Min(bytes, task.MaxValue);
                    task.Description = string.Create(CultureInfo.InvariantCulture, $"ingest: {documents:N0} documents");
                }).ConfigureAwait(false);
                task.Value = task.MaxValue;
                return summary;
            }).ConfigureAwait(false);
    }

    private static async Task WriteSummaryAsync(CliIo io, IngestSummary s, bool json, IngestSources sources, CancellationToken ct)
    {
        string text;
        if (json)
        {
            text = string.Create(
                CultureInfo.InvariantCulture,
                $"{{\"read\":{s.Read},\"inserted\":{s.Inserted},\"duplicates\":{s.Duplicates},\"updated\":{s.Updated},\"rejected\":{s.Rejected},\"dangling_references\":{s.DanglingReferences}}}");
        }
        else
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"read {s.Read} documents: {s.Inserted} inserted, {s.Duplicates} duplicates, {s.Updated} updated, {s.Rejected} rejected");
            sb.AppendLine();
            sb.Append(CultureInfo.InvariantCulture, $"dangling references: {s.DanglingReferences}");
            foreach (var path in sources.RejectFiles)
            {
                sb.AppendLine();
                sb.Append("rejects written to ").Append(path);
            }

            text = sb.ToString();
        }

        await io.Out.WriteLineAsync(text.AsMemory(), ct).ConfigureAwait(false);
    }
}
