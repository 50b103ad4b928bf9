using System.Diagnostics;
using Cybexp.Report.Core.Reports;
using Cybexp.Report.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Reports;

/// <summary>
/// Keeps a worker's ThreatRank graphs ready before queries ask for them: at start it builds the graphs of the org
/// sets most users share (at most <c>maxGraphs</c>), then every <c>refreshEvery</c> it rebuilds the held graphs the
/// archive has changed under, and prepares their calculators for the current day. A query never reads a stale
/// graph: one that arrives while a rebuild runs waits for that rebuild instead of starting its own.
/// </summary>
public sealed class ThreatRankPreloader(
    ICybexpStore store,
    ThreatRankGraphCache graphs,
    int maxGraphs,
    TimeSpan refreshEvery,
    Func<double> now,
    TimeProvider time,
    ILogger log)
{
    /// <summary>
    /// The distinct non-empty visibilities of all users, those shared by more users first (ties by org list), at most
    /// <paramref name="max"/>.
    /// </summary>
    public static async Task<IReadOnlyList<Visibility>> CommonVisibilitiesAsync(IIdentityStore identity, int max, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        if (max <= 0)
        {
            return [];
        }

        var orgs = await identity.ListOrgsAsync(cancellationToken).ConfigureAwait(false);
        var orgsOfUser = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var org in orgs)
        {
            foreach (var user in org.Users)
            {
                if (!orgsOfUser.TryGetValue(user.Value, out var list))
                {
                    orgsOfUser[user.Value] = list = [];
                }

                list.Add(org.Hash.Value);
            }
        }

        return [.. orgsOfUser.Values
            .Select(ids => new Visibility(ids))
            .GroupBy(v => string.Join(",", v.OrgIds), StringComparer.Ordinal)
            .OrderByDescending(g => g.Count())
            .ThenBy(g => g.Key, StringComparer.Ordinal)
            .Take(max)
            .Select(g => g.First())];
    }

    /// <summary>Warms, then refreshes until <paramref name="stoppingToken"/> is cancelled; store trouble is logged, never thrown.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        if (maxGraphs <= 0)
        {
            return;
        }

        try
        {
            var watch = Stopwatch.StartNew();
            var visibilities = await CommonVisibilitiesAsync(store.Identity, maxGraphs, stoppingToken).ConfigureAwait(false);
            await graphs.WarmAsync(visibilities, now(), stoppingToken).ConfigureAwait(false);
            log.LogInformation("threatrank graphs of {Count} org set(s) ready in {Seconds:F1} s", visibilities.Count, watch.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            log.LogWarning("could not build the threatrank graphs ahead of queries (they will be built by the first query): {Message}", e.Message);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(refreshEvery, time, stoppingToken).ConfigureAwait(false);
                await graphs.RefreshAsync(now(), stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogWarning("could not refresh the threatrank graphs: {Message}", e.Message);
            }
        }
    }
}
