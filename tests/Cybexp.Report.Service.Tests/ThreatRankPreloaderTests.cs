using Cybexp.Report.Core.Reports;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Reports;
using Cybexp.Report.Service.Worker;
using Cybexp.Report.Storage.Tests;

namespace Cybexp.Report.Service.Tests;

/// <summary>ThreatRank graphs are built before queries ask for them and kept in step with the archive.</summary>
public sealed class ThreatRankPreloaderTests
{
    private const string Dataset = "D2_small";

    private static Dataset Data => Datasets.Named(Dataset);

    private static string Key(Visibility v) => string.Join(",", v.OrgIds);

    [Fact]
    public async Task CommonVisibilities_AreTheUsersDistinctOrgSets_MostSharedFirst()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync(Dataset);
        var expected = Data.Users.Values
            .Select(Data.VisibilityOf)
            .Where(v => !v.IsEmpty)
            .GroupBy(Key, StringComparer.Ordinal)
            .OrderByDescending(g => g.Count())
            .ThenBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Key)
            .ToList();
        Assert.NotEmpty(expected);

        var all = await ThreatRankPreloader.CommonVisibilitiesAsync(fx.Store.Identity, 64, SqliteStoreFixture.Ct);
        Assert.Equal(expected, all.Select(Key));

        var one = await ThreatRankPreloader.CommonVisibilitiesAsync(fx.Store.Identity, 1, SqliteStoreFixture.Ct);
        Assert.Equal(expected.Take(1), one.Select(Key));
        Assert.Empty(await ThreatRankPreloader.CommonVisibilitiesAsync(fx.Store.Identity, 0, SqliteStoreFixture.Ct));
    }

    [Fact]
    public async Task Worker_BuildsTheGraphsAtStart_AndRebuildsThemAfterTheArchiveChanges()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync(Dataset);
        var graphs = new ThreatRankGraphCache(fx.Store.Archive);
        var logs = new TestLogs();
        var preloader = new ThreatRankPreloader(
            fx.Store, graphs, 64, TimeSpan.FromMilliseconds(100), () => SqliteStoreFixture.VectorNow, TimeProvider.System, logs.CreateLogger("preloader"));
        using var stop = new CancellationTokenSource();
        var running = preloader.RunAsync(stop.Token);

        var visibilities = await ThreatRankPreloader.CommonVisibilitiesAsync(fx.Store.Identity, 64, SqliteStoreFixture.Ct);
        var held = await EventuallyAsync(graphs, h => h.Count == visibilities.Count);
        var version = await fx.Store.Archive.VersionAsync(SqliteStoreFixture.Ct);
        Assert.All(held, h => Assert.Equal(version, h.ArchiveVersion));
        Assert.Equal(visibilities.Select(Key).Order(StringComparer.Ordinal), held.Select(h => Key(h.Visibility)));

        // A new event of the first org: the graphs of org sets holding that org are rebuilt without any query asking.
        var org = visibilities[0].OrgIds[0];
        var attribute = TahoeAttribute.Create("ipv4", "203.0.113.77");
        var ev = TahoeEvent.Create("generic", [attribute], org, SqliteStoreFixture.VectorNow - 3600);
        var before = held.Single(h => Key(h.Visibility) == Key(visibilities[0])).Events;
        await fx.Store.Archive.WriteAsync([Archive(attribute.Document), Archive(ev.Document)], SqliteStoreFixture.Ct);
        var newVersion = await fx.Store.Archive.VersionAsync(SqliteStoreFixture.Ct);
        var refreshed = await EventuallyAsync(graphs, h => h.All(g => g.ArchiveVersion == newVersion));
        Assert.Equal(before + 1, refreshed.Single(h => Key(h.Visibility) == Key(visibilities[0])).Events);

        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public async Task NoGraphs_WhenDisabled_AndAnEmptyArchiveIsNoError()
    {
        await using var fx = await SqliteStoreFixture.CreateAsync();
        var graphs = new ThreatRankGraphCache(fx.Store.Archive);
        var logs = new TestLogs();
        using var stop = new CancellationTokenSource();
        await new ThreatRankPreloader(fx.Store, graphs, 0, TimeSpan.FromSeconds(1), () => 0, TimeProvider.System, logs.CreateLogger("preloader")).RunAsync(stop.Token);
        Assert.Empty(graphs.Held);

        var running = new ThreatRankPreloader(fx.Store, graphs, 4, TimeSpan.FromMilliseconds(100), () => 0, TimeProvider.System, logs.CreateLogger("preloader")).RunAsync(stop.Token);
        await Task.Delay(300);
        Assert.Empty(graphs.Held);
        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public void Options_RejectOutOfRangeGraphSettings()
    {
        Assert.Contains("threatrank graphs", Assert.Throws<ArgumentException>(() => new WorkerOptions { ThreatRankGraphs = -1 }.Validate()).Message);
        Assert.Contains("refresh interval", Assert.Throws<ArgumentException>(() => new WorkerOptions { GraphRefreshEvery = TimeSpan.Zero }.Validate()).Message);
    }

    private static ArchiveDocument Archive(TahoeDict document) =>
        ArchiveDocument.TryCreate(document, out var doc, out var error) ? doc! : throw new InvalidOperationException(error);

    private static async Task<IReadOnlyList<HeldGraph>> EventuallyAsync(ThreatRankGraphCache graphs, Func<IReadOnlyList<HeldGraph>, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var held = graphs.Held;
            if (done(held))
            {
                return held;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the graphs did not reach the expected state: {held.Count} held");
            await Task.Delay(20);
        }
    }
}
