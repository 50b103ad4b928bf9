using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Cybexp.Report.Cli.Commands;
using Cybexp.Report.Cli.Configuration;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Http;
using Cybexp.Report.Service.Notification;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cybexp.Report.Cli.Tests;

/// <summary>
/// The service as <c>serve</c> runs it — HTTP API and report worker in one process on a real SQLite file — driven
/// over real HTTP, with the TCP nonce notification received on a real socket.
/// </summary>
public sealed class ServiceEndToEndTests : IDisposable
{
    private const string Secret = "end-to-end-test-secret-0123456789abcdef";
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-e2e-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // left to the OS temp cleaner
        }
    }

    private async Task<(ICybexpStore Store, ServiceHost Host, HttpClient Http)> StartAsync(NotifierOptions? notify = null)
    {
        var store = await SqliteStore.OpenAsync(Path.Combine(_dir, "e2e.db"), TimeProvider.System, CancellationToken.None);
        var user = TahoeUser.Create("analyst@org1.example", "pw", "Analyst");
        var org = TahoeOrg.Create("org1", [user], [user], "Org 1");
        var attr = TahoeAttribute.Create("ipv4", TahoeValue.String("198.51.100.7"));
        var ev = TahoeEvent.Create("sighting", [attr], org.Hash.Value, 1_600_000_000);
        var docs = new TahoeInstance[] { user, org, attr, ev }.Concat(user.Descendants).Concat(org.Descendants)
            .Select(i => ArchiveDocument.TryCreate(i.Document, out var d, out var e) ? d! : throw new InvalidOperationException(e))
            .DistinctBy(d => d.Hash)
            .ToList();
        await store.Archive.WriteAsync(docs, CancellationToken.None);
        var settings = new CybexpSettings
        {
            Store = store.Description,
            Worker = new WorkerOptions { Parallelism = 2, PollInterval = TimeSpan.FromMilliseconds(200), FixedNow = 1_700_000_000 },
            Notifier = notify ?? new NotifierOptions(),
        };
        var host = await ServiceHost.StartAsync(store, settings, new ReportHttpApiOptions { Urls = ["http://127.0.0.1:0"], JwtSecret = Secret }, null, NullLoggerFactory.Instance, CancellationToken.None);
        var http = new HttpClient { BaseAddress = host.Url, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", JwtTokens.Issue(user.Hash.Value, "cybexp_user", Secret));
        return (store, host, http);
    }

    private static async Task<TahoeDict> SubmitAndWaitAsync(HttpClient http, string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var submitted = await http.PostAsync(new Uri("api/v1/queries", UriKind.Relative), content);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var id = PythonJson.Parse(await submitted.Content.ReadAsStringAsync()).AsDict["id"]!.ToString();
        using var waited = await http.GetAsync(new Uri($"api/v1/queries/{id}?wait=30", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, waited.StatusCode);
        using var report = await http.GetAsync(new Uri($"api/v1/queries/{id}/report", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        return PythonJson.Parse(await report.Content.ReadAsStringAsync()).AsDict;
    }

    [Fact]
    public async Task EveryQueryType_GoesFromSubmitToReport_ThroughTheRunningService()
    {
        var (store, host, http) = await StartAsync();
        await using (store)
        await using (host)
        using (http)
        {
            var count = await SubmitAndWaitAsync(http, """{"type":"count","data":{"sub_type":"ip","data":"198.51.100.7"}}""");
            Assert.Equal(TahoeValue.Int(1), count["data"]);
            Assert.Equal(TahoeValue.String("ready"), count["status"]);
            var related = await SubmitAndWaitAsync(http, """{"type":"related","data":{"sub_type":"ipv4","data":"198.51.100.7","level":2}}""");
            Assert.Equal(TahoeValue.List(TahoeValue.String("198.51.100.7")), related["data"]!.AsDict["ipv4"]);
            var rank = await SubmitAndWaitAsync(http, """{"type":"threatrank","data":{"from":"2020-01-01","to":"2021-01-01"}}""");
            Assert.Equal(TahoeValue.String("ready"), rank["status"]);
            var bad = await SubmitAndWaitAsync(http, """{"type":"related","data":{"sub_type":"ipv4","data":"x","level":9}}""");
            Assert.Equal(TahoeValue.String("failed"), bad["status"]);
            Assert.Contains("'level'", bad["data"]!.AsString, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TheNonceArrives_ForReadyAndForFailedQueries()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var (store, host, http) = await StartAsync(new NotifierOptions { ApiHost = "127.0.0.1" });
        await using (store)
        await using (host)
        using (http)
        {
            foreach (var (data, nonce) in new[] { ("""{"sub_type":"ipv4","data":"198.51.100.7"}""", "ready-nonce-0001"), ("""{"sub_type":"ipv4"}""", "failed-nonce-002") })
            {
                var accept = listener.AcceptTcpClientAsync();
                using var content = new StringContent($$$"""{"type":"count","data":{{{data}}},"notify":{"host":"localhost","port":{{{port}}},"nonce":"{{{nonce}}}"}}""", Encoding.UTF8, "application/json");
                using var submitted = await http.PostAsync(new Uri("api/v1/queries", UriKind.Relative), content);
                Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
                using var client = await accept.WaitAsync(TimeSpan.FromSeconds(30));
                var buffer = new byte[64];
                var received = new List<byte>();
                var stream = client.GetStream();
                int n;
                while ((n = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10))) > 0)
                {
                    received.AddRange(buffer[..n]);
                }

                Assert.Equal(nonce, Encoding.UTF8.GetString([.. received]));
            }
        }
    }

    [Fact]
    public async Task QueryCommand_GoesThroughTheQueue_WhenAServiceRuns_AndInProcessOtherwise()
    {
        var (store, host, http) = await StartAsync();
        var spec = "sqlite:" + Path.Combine(_dir, "e2e.db");
        await using (store)
        {
            await using (host)
            using (http)
            {
                // The worker's first heartbeat is written as it starts; wait until it is visible.
                for (var i = 0; i < 50 && await store.Queries.CountLiveWorkersAsync(TimeProvider.System.NowSeconds() - 15, CancellationToken.None) == 0; i++)
                {
                    await Task.Delay(100);
                }

                var output = new StringWriter();
                var error = new StringWriter();
                var code = await CliApp.RunAsync(["query", "--store", spec, "--user", "analyst@org1.example", "--type", "count", "--data", """{"sub_type":"ipv4","data":"198.51.100.7"}""", "--json"], output, error, new StringReader(string.Empty));
                Assert.True(code == 0, error.ToString());
                Assert.Contains("sent to the running report service", error.ToString(), StringComparison.Ordinal);
                var report = PythonJson.Parse(output.ToString().Trim()).AsDict;
                Assert.Equal(TahoeValue.Int(1), report["data"]);
                Assert.Equal(TahoeValue.Float(1_700_000_000), report["timestamp"]); // computed by the service (its fixed now)
            }

            // The service stopped and retired its heartbeat: the next query is computed in-process.
            var output2 = new StringWriter();
            var error2 = new StringWriter();
            var code2 = await CliApp.RunAsync(["query", "--store", spec, "--user", "analyst@org1.example", "--type", "count", "--data", """{"sub_type":"ipv4","data":"198.51.100.7"}""", "--json"], output2, error2, new StringReader(string.Empty));
            Assert.Equal(0, code2);
            Assert.DoesNotContain("sent to the running report service", error2.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Demo_Once_PrintsEveryReport_AndTheCurlCommands()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await CliApp.RunAsync(["demo", "--once", "--port", "0", "--events", "800", "--dir", _dir], output, error, new StringReader(string.Empty));
        var text = output.ToString();
        Assert.True(code == 0, error.ToString() + text);
        Assert.Contains("── count", text, StringComparison.Ordinal);
        Assert.Contains("seen in", text, StringComparison.Ordinal);
        Assert.Contains("── related", text, StringComparison.Ordinal);
        Assert.Contains("── threatrank", text, StringComparison.Ordinal);
        Assert.Contains("curl -s", text, StringComparison.Ordinal);
        // The service stops when the demo ends, so the commands are offered for a run without --once.
        Assert.Contains("run the demo without --once", text, StringComparison.Ordinal);
        Assert.DoesNotContain("while the service runs", text, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir, "demo.db")));
    }

    [Theory]
    [InlineData("demo")]
    [InlineData("serve")]
    public async Task RunningService_StopsCleanly_OnSigterm(string command)
    {
        // As a service manager stops it: the program, started on its own, gets SIGTERM once it serves.
        var dll = Path.Combine(AppContext.BaseDirectory, "cybexp-report.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir };
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("CYBEXP_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        string[] args = command == "demo"
            ? [dll, "demo", "--port", "0", "--events", "300", "--dir", _dir]
            : [dll, "serve", "--store", "sqlite:" + Path.Combine(_dir, "serve.db"), "--http", "http://127.0.0.1:0", "--jwt-secret", Secret];
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var serving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StringBuilder();
        void Seen(string? line)
        {
            lock (log)
            {
                log.AppendLine(line);
            }

            if (line is not null && (line.Contains("Ctrl-C stops the service", StringComparison.Ordinal) || line.StartsWith("listening on ", StringComparison.Ordinal)))
            {
                serving.TrySetResult();
            }
        }

        using var process = Process.Start(psi)!;
        try
        {
            process.OutputDataReceived += (_, e) => Seen(e.Data);
            process.ErrorDataReceived += (_, e) => Seen(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await serving.Task.WaitAsync(TimeSpan.FromSeconds(120));
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {log}");
            if (command == "demo")
            {
                lock (log)
                {
                    Assert.Contains("Try it yourself while the service runs", log.ToString(), StringComparison.Ordinal);
                }
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
