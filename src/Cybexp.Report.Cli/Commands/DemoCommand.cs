using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Cybexp.Report.Cli.Configuration;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Generation;
using Cybexp.Report.Service.Http;
using Cybexp.Report.Service.Ingest;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Sqlite;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report demo</c>: the whole module on an embedded store — generate and ingest a realistic archive, start
/// the worker and the HTTP API, submit count, related and threatrank queries over HTTP, print the reports and the
/// curl commands to try next.
/// </summary>
public static class DemoCommand
{
    /// <summary>The demo's JWT secret (the demo only; <c>serve</c> has no default secret).</summary>
    public const string DemoSecret = "cybexp-demo-secret-not-for-production";

    private const string Description = """
        A tour of the report module on an embedded store: generates a realistic archive (analysts in two orgs, hub IPs
        and domains, sessions, malicious events) into cybexp-data/demo.db, starts the report worker and the HTTP API
        in this process, submits a count with a time series, a related (level 2) and threatrank queries (a top-10
        ranking, and the top event explained) over HTTP, prints each report and the curl commands to try next, then
        keeps serving until Ctrl-C (--once: exit after printing).
        Reports are computed as of the end of the generated data, so the output is the same on every run.

        Example:
          cybexp-report demo --once
        """;

    /// <summary>Builds the command.</summary>
    public static Command Create(CliIo io)
    {
        var once = new Option<bool>("--once") { Description = "Exit after printing the reports." };
        var events = new Option<int>("--events") { Description = "Events to generate (default 5000).", DefaultValueFactory = _ => 5000 };
        var port = new Option<int>("--port") { Description = "HTTP port on 127.0.0.1 (default 8080; 0 picks a free one).", DefaultValueFactory = _ => 8080 };
        var dir = new Option<string>("--dir") { Description = "Folder for the demo store (default cybexp-data).", DefaultValueFactory = _ => "cybexp-data" };
        var command = new Command("demo", Description) { once, events, port, dir };
        command.SetAction((p, ct) => RunAsync(io, p.GetValue(once), p.GetValue(events), p.GetValue(port), p.GetValue(dir)!, ct));
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, bool once, int events, int port, string dir, CancellationToken ct)
    {
        var o = io.Out;
        var options = new GeneratorOptions(events, Seed: 7, Orgs: 2, Users: 4);
        if (options.Problem() is { } problem)
        {
            await io.Err.WriteLineAsync($"cybexp-report demo: {problem}").ConfigureAwait(false);
            return ExitCodes.Invalid;
        }

        var path = Path.GetFullPath(Path.Combine(dir, "demo.db"));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        foreach (var f in new[] { path, path + "-wal", path + "-shm" })
        {
            File.Delete(f); // the demo's own file: every run starts from the same archive
        }

        var now = options.Start + (options.Days * 86400.0);
        await o.WriteLineAsync($"1. Generating {events} events into {path} …").ConfigureAwait(false);
        await using var store = await SqliteStore.OpenAsync(path, TimeProvider.System, ct).ConfigureAwait(false);
        var generator = new ArchiveGenerator(options);
        var summary = await new ArchiveIngestor(store.Archive).IngestAsync(
            TahoeDocumentRecords.From(generator.Documents()),
            (reject, _) => throw new InvalidOperationException($"generated document rejected: {reject.Reason}"),
            null,
            ct).ConfigureAwait(false);
        await o.WriteLineAsync($"   {summary.Inserted} documents stored ({summary.Read} read, {summary.DanglingReferences} dangling references).").ConfigureAwait(false);
        var orgs = await store.Identity.ListOrgsAsync(ct).ConfigureAwait(false);
        foreach (var org in orgs)
        {
            await o.WriteLineAsync($"   org {org.OrgName}: {org.Users.Length} members").ConfigureAwait(false);
        }

        var analyst = (await store.Identity.FindUserAsync(ArchiveGenerator.UserEmail(1, options.Orgs), ct).ConfigureAwait(false))!;
        await o.WriteLineAsync($"   asking as {analyst.Email} (member of every org), reports as of {DateTimeOffset.FromUnixTimeSeconds((long)now):yyyy-MM-dd HH:mm} UTC").ConfigureAwait(false);

        var settings = new CybexpSettings { Store = store.Description, Worker = new WorkerOptions { FixedNow = now, Parallelism = 4, PollInterval = TimeSpan.FromMilliseconds(500) } };
        var api = new ReportHttpApiOptions { Urls = [$"http://127.0.0.1:{port}"], JwtSecret = DemoSecret };
        using var logs = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddProvider(new WarningsTo(io.Err)));
        ServiceHost service;
        try
        {
            service = await ServiceHost.StartAsync(store, settings, api, null, logs, ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await io.Err.WriteLineAsync($"cybexp-report demo: cannot listen on port {port}: {e.Message} (try --port 0)").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        await using (service.ConfigureAwait(false))
        {
            await o.WriteLineAsync($"2. Report worker and HTTP API running at {service.Url}").ConfigureAwait(false);
            var token = JwtTokens.Issue(analyst.Hash.Value, analyst.SubType, DemoSecret);
            using var http = new HttpClient { BaseAddress = service.Url, Timeout = TimeSpan.FromSeconds(90) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

            await o.WriteLineAsync().ConfigureAwait(false);
            var count = await AskAsync(http, o, "count", $$"""{"sub_type":"ipv4","data":"{{ArchiveGenerator.HubIp}}","last":"180 d","interval":"30d"}""", ct).ConfigureAwait(false);
            PrintCount(o, count);
            var related = await AskAsync(http, o, "related", $$"""{"sub_type":"domain","data":"{{ArchiveGenerator.HubDomain}}","level":2}""", ct).ConfigureAwait(false);
            ReportPrinter.Print(o, related);
            var ranking = await AskAsync(http, o, "threatrank", """{"last":"30 d","top":10}""", ct).ConfigureAwait(false);
            PrintRanking(o, ranking);
            if (ranking["data"] is TahoeList { Count: > 0 } ranked)
            {
                var top = ranked[0].AsDict["_hash"]!.AsString;
                var explained = await AskAsync(http, o, "threatrank", $$"""{"_hash":"{{top}}","explain":true}""", ct).ConfigureAwait(false);
                PrintExplained(o, explained);
            }

            await o.WriteLineAsync().ConfigureAwait(false);
            // With --once the service stops after this text, so the commands are for the next run without it.
            await o.WriteLineAsync(once
                ? "3. Try it yourself: run the demo without --once, which keeps the service running, then:"
                : "3. Try it yourself while the service runs:").ConfigureAwait(false);
            await o.WriteLineAsync($"   export TOKEN={token}").ConfigureAwait(false);
            await o.WriteLineAsync($"   curl -s -X POST {service.Url}api/v1/queries -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\").ConfigureAwait(false);
            await o.WriteLineAsync($"        -d '{{\"type\":\"count\",\"data\":{{\"sub_type\":\"domain\",\"data\":\"{ArchiveGenerator.HubDomain}\"}}}}'").ConfigureAwait(false);
            await o.WriteLineAsync($"   curl -s '{service.Url}api/v1/queries/1?wait=10' -H \"Authorization: Bearer $TOKEN\"").ConfigureAwait(false);
            await o.WriteLineAsync($"   curl -s {service.Url}api/v1/queries/1/report -H \"Authorization: Bearer $TOKEN\"").ConfigureAwait(false);
            await o.WriteLineAsync($"   curl -s -X POST {service.Url}query -H \"Authorization: Bearer $TOKEN\" -d '{{\"type\":\"related\",\"data\":{{\"sub_type\":\"ip\",\"data\":\"{ArchiveGenerator.HubIp}\"}}}}'").ConfigureAwait(false);
            await o.WriteLineAsync($"   curl -s {service.Url}openapi/v1.json").ConfigureAwait(false);
            await o.WriteLineAsync($"   cybexp-report query --store sqlite:{path} --user {analyst.Email} --type count --data '{{\"sub_type\":\"ipv4\",\"data\":\"{ArchiveGenerator.HubIp}\"}}'").ConfigureAwait(false);
            if (once)
            {
                return ExitCodes.Ok;
            }

            await o.WriteLineAsync("   (Ctrl-C stops the service.)").ConfigureAwait(false);
            await service.RunUntilCancelledAsync(ct).ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }

    private static async Task<TahoeDict> AskAsync(HttpClient http, TextWriter o, string type, string data, CancellationToken ct)
    {
        await o.WriteLineAsync($"── {type} {data}").ConfigureAwait(false);
        using var body = new StringContent($$"""{"type":"{{type}}","data":{{data}}}""", Encoding.UTF8, "application/json");
        using var submitted = await http.PostAsync(new Uri("api/v1/queries", UriKind.Relative), body, ct).ConfigureAwait(false);
        var created = PythonJson.Parse(await submitted.Content.ReadAsStringAsync(ct).ConfigureAwait(false)).AsDict;
        if (!submitted.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"the API refused the query: {created}");
        }

        var id = created["id"]!.ToString();
        using var _ = await http.GetAsync(new Uri($"api/v1/queries/{id}?wait=60", UriKind.Relative), ct).ConfigureAwait(false);
        using var report = await http.GetAsync(new Uri($"api/v1/queries/{id}/report", UriKind.Relative), ct).ConfigureAwait(false);
        return PythonJson.Parse(await report.Content.ReadAsStringAsync(ct).ConfigureAwait(false)).AsDict;
    }

    private static void PrintCount(TextWriter o, TahoeDict report)
    {
        if (report["data"] is not TahoeDict d)
        {
            ReportPrinter.Print(o, report);
            return;
        }

        o.WriteLine($"   seen in {d["total"]} events; per 30 days:");
        foreach (var b in d["buckets"]!.AsList.Items)
        {
            var start = DateTimeOffset.FromUnixTimeSeconds((long)((TahoeInt)b.AsDict["start"]!).Value);
            var n = (long)((TahoeInt)b.AsDict["count"]!).Value;
            o.WriteLine($"   {start:yyyy-MM-dd}  {n,6}  {new string('#', (int)Math.Min(60, n))}");
        }
    }

    private static void PrintRanking(TextWriter o, TahoeDict report)
    {
        o.WriteLine("   most malicious events of the last 30 days (ThreatRank, more negative = more malicious):");
        foreach (var r in report["data"] is TahoeList l ? l.Items : [])
        {
            o.WriteLine($"   {((TahoeFloat)r.AsDict["threatrank"]!).Value.ToString("0.000000", CultureInfo.InvariantCulture),12}  {r.AsDict["_hash"]!.AsString}");
        }
    }

    private static void PrintExplained(TextWriter o, TahoeDict report)
    {
        if (report["data"] is not TahoeDict d)
        {
            ReportPrinter.Print(o, report);
            return;
        }

        o.WriteLine($"   threatrank {((TahoeFloat)d["threatrank"]!).Value.ToString("0.000000", CultureInfo.InvariantCulture)}; the paths from malicious events contributing most:");
        foreach (var p in d["paths"]!.AsList.Items.Take(5))
        {
            var nodes = p.AsDict["nodes"]!.AsList.Items.Select(n => $"{n.AsDict["sub_type"]!.AsString}={n.AsDict["itype"]!.AsString}:{n.AsDict["_hash"]!.AsString[..8]}");
            var share = ((TahoeFloat)p.AsDict["share"]!).Value;
            o.WriteLine($"   {share,6:P1}  {string.Join(" → ", nodes)}");
        }
    }

    // The demo prints reports; the service's own logging shows only warnings and errors.
    private sealed class WarningsTo(TextWriter writer) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(writer);

        public void Dispose()
        {
        }

        private sealed class Logger(TextWriter writer) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    lock (writer)
                    {
                        writer.WriteLine($"{logLevel}: {formatter(state, exception)}");
                    }
                }
            }
        }
    }
}
