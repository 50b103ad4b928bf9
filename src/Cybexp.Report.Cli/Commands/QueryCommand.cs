using System.CommandLine;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Reports;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Hosting;
using Spectre.Console;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report query</c>: runs one report query through the same pipeline the worker uses and prints the report
/// document, or with <c>--explain</c> prints the normalised query and its time range without running anything.
/// </summary>
public static class QueryCommand
{
    private const string Description = """
        Run one report query and print the report document
        {"itype":"report","sub_type":…,"userid":…,"timestamp":…,"current_page":…,"next_page":…,"data":…,"_hash":…,"status":…}
        (a readable summary without --json). Exit status 0 when ready, 2 when failed (bad query, unknown user,
        failed decryption…), 1 when the store cannot be used.
        When report workers serve the store (their heartbeat is recent), the query goes through the queue and is
        computed by them; otherwise, with --in-process, or with --now, it is computed here.
        With --explain nothing runs: it prints {"qtype":…,"qdata":{…},"start":S,"end":E} (epoch seconds; 0 means
        unbounded) or the validation error (exit 2).
        Query data: --data JSON, or --data-file FILE holding plain JSON, or with --key PRIVATE.pem an encrypted blob
        (raw bytes, base64 or a Python bytes literal as the original API stores it).
        Examples:
          cybexp-report query --user analyst1@org1.example --type count --data '{"sub_type":"ipv4","data":"203.0.113.1","last":"30 d"}'
          cybexp-report query --type related --data '{"sub_type":"ip","data":"1.1.1.1","level":2}' --explain --now 1700000000
        """;

    /// <summary>Builds the command.</summary>
    public static Command Create(CliIo io)
    {
        var user = new Option<string?>("--user") { Description = "The asking user: _hash or e-mail (not needed with --explain)." };
        var type = new Option<string>("--type") { Description = "count, related or threatrank.", Required = true };
        var data = new Option<string?>("--data") { Description = "The query data as JSON." };
        var dataFile = new Option<string?>("--data-file") { Description = "A file holding the query data (plain JSON, or an encrypted blob with --key)." };
        var key = new Option<string?>("--key") { Description = "Private key (PEM) to decrypt an encrypted --data-file." };
        var now = new Option<double?>("--now") { Description = "Epoch seconds to use as the current time (for 'last', defaults and ages)." };
        var json = new Option<bool>("--json") { Description = "Print the report document as JSON." };
        var explain = new Option<bool>("--explain") { Description = "Print the normalised query and time range; run nothing." };
        var store = new Option<string?>("--store") { Description = "sqlite:PATH or postgres:CONNECTION_STRING (default: $CYBEXP_STORE or sqlite:cybexp-data/cybexp.db)." };
        var inProcess = new Option<bool>("--in-process") { Description = "Compute here even when report workers serve the store." };
        var command = new Command("query", Description) { user, type, data, dataFile, key, now, json, explain, store, inProcess };
        command.SetAction((p, ct) => RunAsync(
            io,
            new Request(p.GetValue(user), p.GetValue(type)!, p.GetValue(data), p.GetValue(dataFile), p.GetValue(key), p.GetValue(now), p.GetValue(json), p.GetValue(explain), p.GetValue(store), p.GetValue(inProcess)),
            ct));
        return command;
    }

    private sealed record Request(string? User, string Type, string? Data, string? DataFile, string? Key, double? Now, bool Json, bool Explain, string? Store, bool InProcess);

    /// <summary>A worker whose last heartbeat is this recent counts as running (three beats).</summary>
    private const double LiveWorkerSeconds = 15;

    /// <summary>How long a query sent through the queue is waited for.</summary>
    private static readonly TimeSpan QueueWait = TimeSpan.FromSeconds(120);

    private static async Task<int> RunAsync(CliIo io, Request r, CancellationToken ct)
    {
        if ((r.Data is null) == (r.DataFile is null))
        {
            await io.Err.WriteLineAsync("give exactly one of --data JSON and --data-file FILE").ConfigureAwait(false);
            return ExitCodes.Invalid;
        }

        QueryDecryptor? decryptor = null;
        string qdata;
        var encrypted = false;
        try
        {
            if (r.Key is not null)
            {
                var pem = await File.ReadAllTextAsync(r.Key, ct).ConfigureAwait(false);
                var loaded = QueryDecryptor.FromPem(pem);
                if (!loaded.TryGetValue(out decryptor, out var keyError))
                {
                    await io.Err.WriteLineAsync($"{r.Key}: {keyError}").ConfigureAwait(false);
                    return ExitCodes.Failure;
                }
            }

            var text = r.Data ?? await File.ReadAllTextAsync(r.DataFile!, ct).ConfigureAwait(false);
            if (decryptor is not null)
            {
                encrypted = true;
                qdata = text.Trim();
            }
            else if (!PythonJson.TryParse(text, DuplicateKeys.Reject, out var value, out var jsonError))
            {
                await io.Err.WriteLineAsync($"the query data is not JSON: {jsonError}").ConfigureAwait(false);
                return ExitCodes.Invalid;
            }
            else
            {
                // Stored and hashed as the original API does: the TAHOE canonical text.
                qdata = Canonical.Of(value);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await io.Err.WriteLineAsync($"cannot read: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        using var _ = decryptor;
        var now = r.Now ?? TimeProvider.System.NowSeconds();
        ICybexpStore? db = null;
        try
        {
            if (r.Explain)
            {
                return await ExplainAsync(io, new QueryInput(r.Type, qdata, encrypted, r.User ?? string.Empty), decryptor, now).ConfigureAwait(false);
            }

            if (r.User is null)
            {
                await io.Err.WriteLineAsync("--user is required to run a query (a _hash or an e-mail address)").ConfigureAwait(false);
                return ExitCodes.Invalid;
            }

            db = await StoreLocator.OpenAsync(StoreLocator.Resolve(r.Store), TimeProvider.System, ct).ConfigureAwait(false);
            var userHash = (await db.Identity.FindUserAsync(r.User, ct).ConfigureAwait(false))?.Hash.Value
                           ?? (InstanceHash.TryParse(r.User, out var h) ? h.Value : r.User);
            TahoeDict report;
            string status;
            // Through the queue when a service serves this store (so the report is stored and computed where the
            // service's key and settings are); here otherwise, or when asked to, or when "now" is fixed.
            if (!r.InProcess && r.Now is null &&
                await db.Queries.CountLiveWorkersAsync(now - LiveWorkerSeconds, ct).ConfigureAwait(false) > 0)
            {
                var qhash = encrypted ? null : InstanceHash.Of(qdata).Value;
                var id = await db.Queries.EnqueueAsync(new QuerySubmission(r.Type, qdata, encrypted, userHash, qhash, null), ct).ConfigureAwait(false);
                await io.Err.WriteLineAsync($"query {id} sent to the running report service").ConfigureAwait(false);
                var ended = await db.Queries.WaitForEndAsync(id, QueueWait, ct).ConfigureAwait(false);
                if (ended?.ReportJson is null)
                {
                    await io.Err.WriteLineAsync($"query {id} is still {ended?.Status ?? "unknown"} after {QueueWait.TotalSeconds} s; fetch it later (GET /api/v1/queries/{id}/report)").ConfigureAwait(false);
                    return ExitCodes.Failure;
                }

                report = PythonJson.Parse(ended.ReportJson, DuplicateKeys.LastWins).AsDict;
                status = ended.Status;
            }
            else
            {
                var outcome = await new ReportRunner(db, decryptor).RunAsync(new QueryInput(r.Type, qdata, encrypted, userHash), now, ct).ConfigureAwait(false);
                report = outcome.Report;
                status = outcome.Status;
            }

            if (r.Json)
            {
                await io.Out.WriteLineAsync(TahoeJsonWriter.Write(report)).ConfigureAwait(false);
            }
            else
            {
                ReportPrinter.Print(io.Out, report);
            }

            return status == QueryStatus.Ready ? ExitCodes.Ok : ExitCodes.Invalid;
        }
        catch (Exception e) when (e is StoreUnavailableException or ArgumentException)
        {
            await io.Err.WriteLineAsync(e.Message).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        finally
        {
            if (db is not null)
            {
                await db.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task<int> ExplainAsync(CliIo io, QueryInput input, QueryDecryptor? decryptor, double now)
    {
        try
        {
            // Preparing needs no store: decode, validate and resolve the time range only.
            var (query, range) = ReportRunner.PrepareWithoutStore(input, decryptor, now);
            var doc = TahoeValue.Dict(
                ("qtype", TahoeValue.String(query.QType)),
                ("qdata", ReportQueryJson.ToQdata(query)),
                ("start", Epoch(range.Start)),
                ("end", Epoch(range.End)));
            await io.Out.WriteLineAsync(TahoeJsonWriter.Write(doc)).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (ReportFailedException e)
        {
            await io.Err.WriteLineAsync(e.Message).ConfigureAwait(false);
            return ExitCodes.Invalid;
        }
    }

    private static TahoeValue Epoch(double seconds) =>
        seconds == Math.Floor(seconds) && Math.Abs(seconds) < 9e15 ? TahoeValue.Int((long)seconds) : TahoeValue.Float(seconds);
}

/// <summary>Prints a report document readably for a terminal.</summary>
public static class ReportPrinter
{
    /// <summary>Writes <paramref name="report"/> as a small table followed by its data.</summary>
    public static void Print(TextWriter output, TahoeDict report)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        var table = new Table().AddColumn("field").AddColumn("value");
        foreach (var key in new[] { "sub_type", "status", "userid", "timestamp", "current_page", "next_page", "_hash" })
        {
            table.AddRow(key, Markup.Escape(report[key] is TahoeString s ? s.Value : report[key]?.ToString() ?? "null"));
        }

        console.Write(table);
        var data = report["data"] ?? TahoeValue.Null;
        switch (data)
        {
            case TahoeDict groups when groups.Entries.All(e => e.Value is TahoeList):
                var t = new Table().AddColumn("key").AddColumn("values");
                foreach (var e in groups.Entries)
                {
                    t.AddRow(Markup.Escape(e.Key), Markup.Escape(string.Join(", ", e.Value.AsList.Items.Select(v => v is TahoeString s ? s.Value : v.ToString()))));
                }

                console.Write(t);
                break;
            case TahoeString message:
                console.WriteLine("data: " + message.Value);
                break;
            default:
                console.WriteLine("data: " + data);
                break;
        }
    }
}
