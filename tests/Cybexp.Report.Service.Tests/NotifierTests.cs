using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Service.Notification;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Tests;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Tests;

/// <summary>Notifications over real TCP: the nonce arrives for ready and failed queries, never at a host outside the allow-list.</summary>
public sealed class NotifierTests
{
    private static readonly WorkerOptions Options = new() { FixedNow = SqliteStoreFixture.VectorNow, Parallelism = 2, PollInterval = TimeSpan.FromSeconds(1) };

    private static string Carol => Datasets.Named("D1_tiny").Users["carol"].Value;

    /// <summary>Accepts one connection and reads it to the end.</summary>
    private static async Task<string> ReceiveOnceAsync(TcpListener listener)
    {
        using var client = await listener.AcceptTcpClientAsync(SqliteStoreFixture.Ct);
        using var reader = new StreamReader(client.GetStream(), Encoding.UTF8);
        return await reader.ReadToEndAsync(SqliteStoreFixture.Ct);
    }

    private static int Port(TcpListener l) => ((IPEndPoint)l.LocalEndpoint).Port;

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public async Task ReadyAndFailedQueries_SendTheExactNonce(string host)
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var notifier = new TcpNotifier(new NotifierOptions { ApiHost = "127.0.0.1" }, new TestLogs().CreateLogger<TcpNotifier>());
            await using var worker = fx.Start(Options, notifier: notifier);

            var readyNonce = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
            var receiving = ReceiveOnceAsync(listener);
            var ready = await fx.EnqueueAsync("count", SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7"}"""), Carol, notify: new NotifySocket(host, Port(listener), readyNonce));
            Assert.Equal(readyNonce, await receiving.WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(QueryStatus.Ready, (await fx.EndedAsync(ready)).Status);

            var failedNonce = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
            receiving = ReceiveOnceAsync(listener);
            var failed = await fx.EnqueueAsync("count", "{broken", Carol, notify: new NotifySocket(host, Port(listener), failedNonce));
            Assert.Equal(failedNonce, await receiving.WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(QueryStatus.Failed, (await fx.EndedAsync(failed)).Status);
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task HostOutsideTheAllowList_IsRefusedBeforeAnyConnection_AndLogged()
    {
        var logs = new TestLogs();
        var notifier = new TcpNotifier(new NotifierOptions(), logs.CreateLogger<TcpNotifier>());

        // 192.0.2.1 is TEST-NET-1: never routed. A connection attempt would hang until the 2 s timeout.
        var clock = Stopwatch.StartNew();
        var result = await notifier.NotifyAsync(7, new NotifySocket("192.0.2.1", 9, "nonce"), SqliteStoreFixture.Ct);
        Assert.Equal(NotificationResult.Refused, result);
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(500), $"took {clock.Elapsed}");
        Assert.True(logs.Contains(LogLevel.Warning, "192.0.2.1:9 refused"), logs.Dump());

        // A name is refused by name, without a lookup.
        Assert.Equal(NotificationResult.Refused, await notifier.NotifyAsync(8, new NotifySocket("attacker.example", 80, "n"), SqliteStoreFixture.Ct));
    }

    [Fact]
    public async Task QueryNamingAForeignHost_EndsNormally_WithoutAConnection()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        var logs = new TestLogs();
        await using var worker = fx.Start(Options, logs: logs);
        var id = await fx.EnqueueAsync("count", SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7"}"""), Carol, notify: new NotifySocket("192.0.2.1", 4444, "abc"));
        Assert.Equal(QueryStatus.Ready, (await fx.EndedAsync(id)).Status);
        await WaitForAsync(() => logs.Contains(LogLevel.Warning, "192.0.2.1:4444 refused"));
    }

    [Fact]
    public void AllowListedHosts_AndTheApiHost_AreAllowed_LoopbackNamesMapToTheApiHost()
    {
        var options = new NotifierOptions { ApiHost = "api.internal", AllowedHosts = ["10.0.0.5", "Reports.Example"] };
        Assert.Equal("api.internal", options.Target("0.0.0.0"));
        Assert.Equal("api.internal", options.Target("::1"));
        Assert.Equal("api.internal", options.Target("LOCALHOST"));
        Assert.Equal("10.0.0.5", options.Target("10.0.0.5"));
        Assert.True(options.Allows("api.internal"));
        Assert.True(options.Allows("10.0.0.5"));
        Assert.True(options.Allows("reports.example"));
        Assert.False(options.Allows("10.0.0.6"));
        Assert.False(options.Allows("192.0.2.1"));
        Assert.True(new NotifierOptions().Allows("0:0:0:0:0:0:0:1"));
    }

    [Fact]
    public async Task PortWhereNobodyListens_IsLogged_AndTheWorkerContinues()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync("D1_tiny");
        int closedPort;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            closedPort = Port(probe);
        }

        var logs = new TestLogs();
        await using var worker = fx.Start(Options, logs: logs);
        var first = await fx.EnqueueAsync("count", SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.7"}"""), Carol, notify: new NotifySocket("127.0.0.1", closedPort, "n1"));
        Assert.Equal(QueryStatus.Ready, (await fx.EndedAsync(first)).Status);
        await WaitForAsync(() => logs.Contains(LogLevel.Warning, $"localhost:{closedPort} failed"));
        var second = await fx.EnqueueAsync("count", SqliteStoreFixture.Canonical("""{"sub_type": "ipv4", "data": "198.51.100.8"}"""), Carol);
        Assert.Equal(QueryStatus.Ready, (await fx.EndedAsync(second)).Status);
        Assert.False(worker.Run.IsCompleted);
    }

    [Fact]
    public async Task InvalidPort_IsRefused()
    {
        var logs = new TestLogs();
        var notifier = new TcpNotifier(new NotifierOptions(), logs.CreateLogger<TcpNotifier>());
        Assert.Equal(NotificationResult.Refused, await notifier.NotifyAsync(1, new NotifySocket("127.0.0.1", 0, "n"), SqliteStoreFixture.Ct));
        Assert.Equal(NotificationResult.Refused, await notifier.NotifyAsync(1, new NotifySocket("127.0.0.1", 70000, "n"), SqliteStoreFixture.Ct));
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "condition not met within 20 s");
            await Task.Delay(20);
        }
    }
}
