using System.Globalization;

namespace Cybexp.Report.Service.Worker;

/// <summary>
/// How a <see cref="ReportWorker"/> claims and runs queries. Every value has a default that suits a single machine;
/// <see cref="Validate"/> names the first value out of range.
/// </summary>
public sealed record WorkerOptions
{
    /// <summary>The largest parallelism accepted (a typo guard, not a tuning limit).</summary>
    public const int MaxParallelism = 4096;

    /// <summary>Names this worker in lease tokens and logs; default <c>HOSTNAME/PID</c>, stable for the process.</summary>
    public string WorkerId { get; init; } = DefaultWorkerId();

    /// <summary>How long a claim holds without renewal; a worker that dies loses its queries after this. Default 30 s.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a running query's lease is renewed: a fifth of <see cref="Lease"/>.</summary>
    public TimeSpan RenewEvery => Lease / 5;

    /// <summary>Queries computed at once; default 4 per processor.</summary>
    public int Parallelism { get; init; } = 4 * Environment.ProcessorCount;

    /// <summary>Claims of one query before it ends failed (a worker died with it each time). Default 3.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>How long an idle worker sleeps when no signal wakes it. Default 2 s.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>On shutdown, how long in-flight queries may still finish before they are released. Default 10 s.</summary>
    public TimeSpan ShutdownDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest pause between attempts to reach a store that went away. Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the worker records its heartbeat; clients count a worker as running for three beats.</summary>
    public TimeSpan HeartbeatEvery { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How many ThreatRank graphs (one per set of orgs, those most users share first) the worker builds at start and
    /// keeps in step with the archive, so that no query waits for a graph to be built. Default 4; 0 builds graphs
    /// only when a query needs one.
    /// </summary>
    public int ThreatRankGraphs { get; init; } = 4;

    /// <summary>How often held ThreatRank graphs are checked against the archive and rebuilt when it changed. Default 5 s.</summary>
    public TimeSpan GraphRefreshEvery { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>When set, every report is computed as of this instant (epoch seconds) instead of the clock (<c>--now</c>).</summary>
    public double? FixedNow { get; init; }

    /// <summary><c>HOSTNAME/PID</c>.</summary>
    public static string DefaultWorkerId() =>
        Environment.MachineName + "/" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentException(message);
            }
        }

        Require(!string.IsNullOrWhiteSpace(WorkerId), "the worker id must not be empty");
        Require(Lease >= TimeSpan.FromMilliseconds(100) && Lease <= TimeSpan.FromDays(1), $"the lease must be from 0.1 s to 1 day, got {Seconds(Lease)} s");
        Require(Parallelism is >= 1 and <= MaxParallelism, $"the parallelism must be from 1 to {MaxParallelism}, got {Parallelism}");
        Require(MaxAttempts >= 1, $"the maximum number of attempts must be at least 1, got {MaxAttempts}");
        Require(PollInterval >= TimeSpan.FromMilliseconds(10) && PollInterval <= TimeSpan.FromHours(1), $"the poll interval must be from 0.01 s to 1 hour, got {Seconds(PollInterval)} s");
        Require(ShutdownDeadline >= TimeSpan.Zero && ShutdownDeadline <= TimeSpan.FromHours(1), $"the shutdown deadline must be from 0 s to 1 hour, got {Seconds(ShutdownDeadline)} s");
        Require(MaxBackoff >= TimeSpan.FromMilliseconds(10), $"the maximum back-off must be at least 0.01 s, got {Seconds(MaxBackoff)} s");
        Require(ThreatRankGraphs is >= 0 and <= 64, $"the number of threatrank graphs held must be from 0 to 64, got {ThreatRankGraphs}");
        Require(GraphRefreshEvery >= TimeSpan.FromMilliseconds(100) && GraphRefreshEvery <= TimeSpan.FromHours(1), $"the threatrank graph refresh interval must be from 0.1 s to 1 hour, got {Seconds(GraphRefreshEvery)} s");
        Require(FixedNow is null || double.IsFinite(FixedNow.Value), "the fixed 'now' must be a finite number of epoch seconds");
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
}
