using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Reports;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Notification;
using Cybexp.Report.Service.Reports;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Worker;

/// <summary>What a worker has done since it started.</summary>
/// <param name="Ready">Queries it completed with a report.</param>
/// <param name="Failed">Queries it completed as failed (bad input, unknown user, gave up after too many attempts…).</param>
/// <param name="LeaseLost">Claims it lost to lease expiry; it wrote nothing for them.</param>
/// <param name="Released">
/// Claims it gave back to the queue after starting them (shutdown, or the store went away). Queries it claimed together
/// with a completion but never started before stopping are given back too, without being counted here.
/// </param>
public readonly record struct WorkerCounters(long Ready, long Failed, long LeaseLost, long Released);

/// <summary>
/// The report worker: claims waiting queries with a lease, computes up to <see cref="WorkerOptions.Parallelism"/>
/// reports at once, and stores each report with its final status in one transaction fenced on the lease, then
/// notifies the submitter. A query whose claims keep expiring (its workers died) ends failed after
/// <see cref="WorkerOptions.MaxAttempts"/>. Idle, it sleeps until the store signals new work or the poll interval
/// passes. On cancellation it stops claiming, lets in-flight queries finish within
/// <see cref="WorkerOptions.ShutdownDeadline"/> and releases the rest. A store that goes away is retried with
/// exponential back-off; no query is lost (at worst a claim expires and another worker takes it over).
/// </summary>
/// <remarks>
/// Delivery is at-least-once computation, exactly-once completion: a query may be computed twice (its first worker
/// died or lost its lease) but only the claim that still holds the lease writes, and only that one notifies.
/// Round trips are shared under load: free slots are filled by one claim of several queries, and reports that finish
/// while an earlier completion is being stored are stored together in the next one (each still fenced on its own
/// lease). The round trip that stores reports also claims as many new queries (the slots those reports free), so a
/// busy worker rarely claims on its own. An idle worker claims and completes one query at a time, so sharing adds no
/// latency.
/// </remarks>
public sealed class ReportWorker
{
    // Bounds the claim, the final writes (complete, release) and the notification; they are not cancelled by shutdown
    // (a finished report is not thrown away for lack of a few milliseconds), only by a database that hangs.
    private static readonly TimeSpan FinalWriteTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);

    private readonly IQueryStore _queries;
    private readonly WorkerOptions _options;
    private readonly INotifier _notifier;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ReportRunner _runner;
    private readonly ThreatRankPreloader _preloader;
    private readonly string _storeDescription;
    private Channel<PendingCompletion> _completions = NewCompletions();

    // Queries claimed together with a completion, for the slots the completed ones free; the claim loop takes them
    // before it asks the store.
    private readonly ConcurrentQueue<QueryClaim> _prefetched = new();
    private readonly AsyncSignal _prefetchedSignal = new();
    private long _ready;
    private long _failed;
    private long _leaseLost;
    private long _released;

    /// <summary>Creates a worker over <paramref name="store"/>; nothing runs until <see cref="RunAsync"/>.</summary>
    /// <param name="store">The store holding the archive, identities and the query queue.</param>
    /// <param name="options">Lease, parallelism, attempts, intervals (validated here).</param>
    /// <param name="decryptor">The cluster's private key for encrypted query data, or null (such queries then fail).</param>
    /// <param name="notifier">Tells submitters that their query ended.</param>
    /// <param name="time">The clock for leases, waits and the reports' "now".</param>
    /// <param name="logs">Where the worker logs (category <c>Cybexp.Report.Service.Worker.ReportWorker</c>).</param>
    public ReportWorker(ICybexpStore store, WorkerOptions options, QueryDecryptor? decryptor, INotifier notifier, TimeProvider time, ILoggerFactory logs)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(notifier);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logs);
        options.Validate();
        _queries = store.Queries;
        _options = options;
        _notifier = notifier;
        _time = time;
        _log = logs.CreateLogger<ReportWorker>();
        var graphs = new ThreatRankGraphCache(store.Archive);
        _runner = new ReportRunner(store, decryptor, graphs, new UserAccessCache());
        _preloader = new ThreatRankPreloader(
            store, graphs, options.ThreatRankGraphs, options.GraphRefreshEvery, Now, time, _log);
        _storeDescription = store.Description;
    }

    /// <summary>The options in force.</summary>
    public WorkerOptions Options => _options;

    /// <summary>A snapshot of what this worker has done.</summary>
    public WorkerCounters Counters => new(
        Interlocked.Read(ref _ready), Interlocked.Read(ref _failed), Interlocked.Read(ref _leaseLost), Interlocked.Read(ref _released));

    /// <summary>
    /// Runs until <paramref name="stoppingToken"/> is cancelled, then shuts down gracefully and returns (it does not
    /// throw for that cancellation, nor for any one query's failure).
    /// </summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        _log.LogInformation(
            "worker {WorkerId} started on {Store}: parallelism {Parallelism}, lease {Lease} s, poll {Poll} s, max attempts {MaxAttempts}",
            _options.WorkerId, _storeDescription, _options.Parallelism, _options.Lease.TotalSeconds, _options.PollInterval.TotalSeconds, _options.MaxAttempts);
        var beating = HeartbeatLoopAsync(stoppingToken);
        var preloading = _preloader.RunAsync(stoppingToken);
        _completions = NewCompletions();
        var completing = CompleteLoopAsync(_completions.Reader, stoppingToken);
        using var slots = new SemaphoreSlim(_options.Parallelism, _options.Parallelism);
        using var drain = new CancellationTokenSource();
        var running = new List<Task>();
        var backoff = TimeSpan.Zero;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await slots.WaitAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            // Fill every free slot with one claim.
            var free = 1;
            while (free < _options.Parallelism && slots.Wait(0))
            {
                free++;
            }

            // Queries claimed with a completion first: under load every slot a completion frees already has one.
            var claims = new List<QueryClaim>();
            while (claims.Count < free && _prefetched.TryDequeue(out var early))
            {
                claims.Add(early);
            }

            if (claims.Count > 0)
            {
                if (claims.Count < free)
                {
                    slots.Release(free - claims.Count);
                }

                Start(claims, running, slots, drain.Token);
                continue;
            }

            // Read before the claim: a query enqueued after the claim looked signals after this, and the wait below
            // then returns at once instead of sleeping a poll interval.
            var signalsSeen = _queries.WorkSignals;
            try
            {
                // Not cancelled by shutdown: a claim that commits while its caller gives up would stay 'processing'
                // until its lease expires. The timeout only bounds a hung database.
                using var claimTimeout = new CancellationTokenSource(FinalWriteTimeout, _time);
                claims.AddRange(await _queries.ClaimManyAsync(_options.WorkerId, _options.Lease, free, claimTimeout.Token).ConfigureAwait(false));
            }
            catch (Exception e)
            {
                slots.Release(free);
                backoff = NextBackoff(backoff);
                LogStoreTrouble(e, "could not claim a query", backoff);
                if (!await PauseAsync(backoff, stoppingToken).ConfigureAwait(false))
                {
                    break;
                }

                continue;
            }

            if (backoff > TimeSpan.Zero)
            {
                _log.LogInformation("the store answers again: claiming resumed");
                backoff = TimeSpan.Zero;
            }

            if (claims.Count < free)
            {
                slots.Release(free - claims.Count);
            }

            if (claims.Count == 0)
            {
                // A completion may have claimed what this claim did not find: take the signal, then look.
                var prefetched = _prefetchedSignal.WaitAsync(_options.PollInterval, _time, stoppingToken);
                if (!_prefetched.IsEmpty)
                {
                    continue;
                }

                if (!await WaitForWorkAsync(signalsSeen, prefetched, stoppingToken).ConfigureAwait(false))
                {
                    break;
                }

                continue;
            }

            Start(claims, running, slots, drain.Token);
        }

        await ShutDownAsync(running, drain).ConfigureAwait(false);
        _completions.Writer.Complete();
        await completing.ConfigureAwait(false);

        // Claimed with the last completions, never started: back to the queue, its attempt not counted.
        while (_prefetched.TryDequeue(out var unstarted))
        {
            await ReturnUnstartedAsync(unstarted).ConfigureAwait(false);
        }

        await beating.ConfigureAwait(false);
        await preloading.ConfigureAwait(false);
        try
        {
            using var retire = new CancellationTokenSource(FinalWriteTimeout, _time);
            await _queries.RetireWorkerAsync(_options.WorkerId, retire.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StoreUnavailableException or OperationCanceledException)
        {
            // The heartbeat simply ages out.
            _log.LogDebug("could not remove the heartbeat of worker {WorkerId}: {Reason}", _options.WorkerId, e.Message);
        }
    }

    private void Start(List<QueryClaim> claims, List<Task> running, SemaphoreSlim slots, CancellationToken drainToken)
    {
        running.RemoveAll(t => t.IsCompleted);
        foreach (var claim in claims)
        {
            running.Add(Task.Run(() => ProcessAsync(claim, slots, drainToken), CancellationToken.None));
        }
    }

    /// <summary>
    /// Announces this worker every <see cref="WorkerOptions.HeartbeatEvery"/> until stop, so clients such as
    /// <c>cybexp-report query</c> can tell that a service is processing the queue. Failures only delay the next beat.
    /// </summary>
    private async Task HeartbeatLoopAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _queries.HeartbeatAsync(_options.WorkerId, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is StoreUnavailableException || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
            {
                _log.LogDebug("heartbeat of worker {WorkerId} failed: {Reason}", _options.WorkerId, e.Message);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (!await PauseAsync(_options.HeartbeatEvery, stoppingToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Stores finished reports: everything that finished while the previous call was in flight goes in the next one
    /// (at most one claim batch per call), so under load reports share round trips and idle there is no wait.
    /// The same call claims as many new queries as it completes (until stop): each completed query's slot is freed
    /// once its completion returns, and the claim loop then starts a query claimed here instead of asking the store
    /// again. Ends when the channel is completed and drained.
    /// </summary>
    private async Task CompleteLoopAsync(ChannelReader<PendingCompletion> reader, CancellationToken stoppingToken)
    {
        var batch = new List<PendingCompletion>();
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < _options.Parallelism && reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            try
            {
                using var timeout = new CancellationTokenSource(FinalWriteTimeout, _time);
                var claim = stoppingToken.IsCancellationRequested ? 0 : batch.Count;
                var result = await _queries.CompleteAndClaimAsync(
                    [.. batch.Select(p => p.Completion)], _options.WorkerId, _options.Lease, claim, timeout.Token).ConfigureAwait(false);

                // Queued before any completed query frees its slot, so the claim loop finds them when it wakes.
                foreach (var c in result.Claims)
                {
                    _prefetched.Enqueue(c);
                }

                if (result.Claims.Count > 0)
                {
                    _prefetchedSignal.Set();
                }

                var stored = result.Stored;
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.TrySetResult(stored[i]);
                }
            }
            catch (Exception e)
            {
                foreach (var p in batch)
                {
                    p.Done.TrySetException(e);
                }
            }
        }
    }

    private async Task ShutDownAsync(List<Task> running, CancellationTokenSource drain)
    {
        running.RemoveAll(t => t.IsCompleted);
        if (running.Count > 0)
        {
            _log.LogInformation("worker {WorkerId} stopping: waiting up to {Deadline} s for {Count} queries in flight", _options.WorkerId, _options.ShutdownDeadline.TotalSeconds, running.Count);
            try
            {
                await Task.WhenAll(running).WaitAsync(_options.ShutdownDeadline, _time, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // In-flight computations see the drain token, stop, and release their claims.
                _log.LogInformation("worker {WorkerId}: shutdown deadline reached, releasing the queries still in flight", _options.WorkerId);
                await drain.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(running).ConfigureAwait(false);
            }
        }

        var c = Counters;
        _log.LogInformation(
            "worker {WorkerId} stopped: {Ready} ready, {Failed} failed, {Released} released, {LeaseLost} lost to lease expiry",
            _options.WorkerId, c.Ready, c.Failed, c.Released, c.LeaseLost);
    }

    /// <summary>
    /// Sleeps until the store signals work (at once when it did since <paramref name="signalsSeen"/>, read before the
    /// claim that found nothing), a completion claimed queries (<paramref name="prefetched"/>), the poll
    /// interval passes, or stop; false on stop.
    /// </summary>
    private async Task<bool> WaitForWorkAsync(long signalsSeen, Task prefetched, CancellationToken stoppingToken)
    {
        try
        {
            await await Task.WhenAny(_queries.WaitForWorkAsync(signalsSeen, _options.PollInterval, stoppingToken), prefetched).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e)
        {
            // Waiting is only an optimisation: fall back on the poll interval.
            _log.LogWarning("waiting for work failed ({Reason}); polling instead", e.Message);
            return await PauseAsync(_options.PollInterval, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> PauseAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private TimeSpan NextBackoff(TimeSpan current)
    {
        var next = current == TimeSpan.Zero ? FirstBackoff : current * 2;
        return next > _options.MaxBackoff ? _options.MaxBackoff : next;
    }

    private void LogStoreTrouble(Exception e, string what, TimeSpan backoff)
    {
        if (e is StoreUnavailableException)
        {
            _log.LogError("{What}: {Reason}; retrying in {Backoff} s", what, e.Message, backoff.TotalSeconds);
        }
        else
        {
            _log.LogError(e, "{What}: unexpected store error; retrying in {Backoff} s", what, backoff.TotalSeconds);
        }
    }

    private async Task ProcessAsync(QueryClaim claim, SemaphoreSlim slots, CancellationToken drainToken)
    {
        try
        {
            await ProcessClaimAsync(claim, drainToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Nothing above lets an exception out on purpose; this keeps a bug from taking the worker down.
            _log.LogError(e, "query {QueryId}: unexpected worker error; its lease will expire and another attempt will follow", claim.QueryId);
        }
        finally
        {
            slots.Release();
        }
    }

    private async Task ProcessClaimAsync(QueryClaim claim, CancellationToken drainToken)
    {
        var query = claim.Query;
        var input = new QueryInput(query.QType, query.QData, query.Encrypted, query.UserId);
        if (claim.Attempt > _options.MaxAttempts)
        {
            var message = $"gave up after {claim.Attempt - 1} attempts: the workers processing this query stopped before finishing it (last lease expired)";
            _log.LogWarning("query {QueryId}: {Message}", claim.QueryId, message);
            await FinishAsync(claim, ReportRunner.Failed(input, Now(), message)).ConfigureAwait(false);
            return;
        }

        using var compute = CancellationTokenSource.CreateLinkedTokenSource(drainToken);
        using var stopRenewal = CancellationTokenSource.CreateLinkedTokenSource(drainToken);
        var leaseLost = new StrongBox<bool>();
        var renewal = RenewAsync(claim, compute, leaseLost, stopRenewal.Token);
        ReportOutcome? outcome = null;
        try
        {
            outcome = await _runner.RunAsync(input, Now(), claim.IdentityVersion, compute.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (compute.IsCancellationRequested)
        {
            // The lease was lost, or the shutdown deadline passed: decided below.
        }
        catch (StoreUnavailableException e)
        {
            _log.LogWarning("query {QueryId}: the store went away while computing ({Reason}); the query goes back to the queue", claim.QueryId, e.Message);
        }
        catch (Exception e)
        {
            _log.LogError(e, "query {QueryId} ({QType}): the report failed with an unexpected error", claim.QueryId, query.QType);
            outcome = ReportRunner.Failed(input, Now(), $"the report could not be computed because of an internal error ({e.GetType().Name}: {e.Message})");
        }
        finally
        {
            await stopRenewal.CancelAsync().ConfigureAwait(false);
            await renewal.ConfigureAwait(false);
        }

        if (leaseLost.Value)
        {
            // Another worker owns the query now; the fenced writes would be refused anyway, so do not try.
            Interlocked.Increment(ref _leaseLost);
            _log.LogWarning("query {QueryId}: lease lost while computing; the result is discarded", claim.QueryId);
            return;
        }

        if (outcome is null)
        {
            await ReleaseAsync(claim).ConfigureAwait(false);
            return;
        }

        await FinishAsync(claim, outcome).ConfigureAwait(false);
    }

    /// <summary>Renews the lease every <see cref="WorkerOptions.RenewEvery"/>; when the claim is lost it cancels the computation.</summary>
    private async Task RenewAsync(QueryClaim claim, CancellationTokenSource compute, StrongBox<bool> leaseLost, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await Task.Delay(_options.RenewEvery, _time, cancellationToken).ConfigureAwait(false);
                if (!await _queries.RenewAsync(claim, _options.Lease, cancellationToken).ConfigureAwait(false))
                {
                    leaseLost.Value = true;
                    await compute.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Keep computing: the lease may still hold when the store is back; the fenced completion decides.
                _log.LogWarning("query {QueryId}: could not renew the lease ({Reason}); retrying", claim.QueryId, e.Message);
            }
        }
    }

    private async Task FinishAsync(QueryClaim claim, ReportOutcome outcome)
    {
        var stored = new QueryOutcome(outcome.Status, TahoeJsonWriter.Write(outcome.Report), outcome.ReportHash, outcome.Error);
        bool completed;
        try
        {
            // At-least-once checkpoint: report and final status commit together, only while this claim holds.
            var pending = new PendingCompletion(new QueryCompletion(claim, stored));
            if (!_completions.Writer.TryWrite(pending))
            {
                throw new InvalidOperationException("the worker no longer stores reports");
            }

            completed = await pending.Done.Task.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _log.LogWarning("query {QueryId}: could not store the report ({Reason}); the query goes back to the queue", claim.QueryId, e.Message);
            await ReleaseAsync(claim).ConfigureAwait(false);
            return;
        }

        if (!completed)
        {
            Interlocked.Increment(ref _leaseLost);
            _log.LogWarning("query {QueryId}: lease lost before the report was stored; nothing was written", claim.QueryId);
            return;
        }

        if (outcome.Status == QueryStatus.Ready)
        {
            Interlocked.Increment(ref _ready);
            _log.LogDebug("query {QueryId} ({QType}) ready", claim.QueryId, claim.Query.QType);
        }
        else
        {
            Interlocked.Increment(ref _failed);
            _log.LogInformation("query {QueryId} ({QType}) failed: {Error}", claim.QueryId, claim.Query.QType, outcome.Error);
        }

        if (claim.Query.Notify is { } socket)
        {
            try
            {
                using var timeout = new CancellationTokenSource(FinalWriteTimeout, _time);
                await _notifier.NotifyAsync(claim.QueryId, socket, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _log.LogWarning("query {QueryId}: notification failed: {Reason}", claim.QueryId, e.Message);
            }
        }
    }

    private async Task ReleaseAsync(QueryClaim claim)
    {
        using var timeout = new CancellationTokenSource(FinalWriteTimeout, _time);
        try
        {
            if (await _queries.ReleaseAsync(claim, timeout.Token).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _released);
                _log.LogInformation("query {QueryId}: released back to the queue", claim.QueryId);
            }
            else
            {
                Interlocked.Increment(ref _leaseLost);
                _log.LogWarning("query {QueryId}: could not release it, the lease was already lost", claim.QueryId);
            }
        }
        catch (Exception e)
        {
            // The lease will expire and another worker (or this one) takes the query over.
            _log.LogWarning("query {QueryId}: could not release it ({Reason}); it returns to the queue when its lease expires", claim.QueryId, e.Message);
        }
    }

    /// <summary>Gives back a claim that was never started (not counted as <see cref="WorkerCounters.Released"/>).</summary>
    private async Task ReturnUnstartedAsync(QueryClaim claim)
    {
        using var timeout = new CancellationTokenSource(FinalWriteTimeout, _time);
        try
        {
            await _queries.ReleaseAsync(claim, timeout.Token).ConfigureAwait(false);
            _log.LogDebug("query {QueryId}: claimed with a completion during shutdown, never started; back to the queue", claim.QueryId);
        }
        catch (Exception e)
        {
            _log.LogWarning("query {QueryId}: could not give back a claim that was never started ({Reason}); it returns to the queue when its lease expires", claim.QueryId, e.Message);
        }
    }

    private double Now() => _options.FixedNow ?? _time.NowSeconds();

    private static Channel<PendingCompletion> NewCompletions() =>
        Channel.CreateUnbounded<PendingCompletion>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>A finished report waiting to be stored, and whether it was (false: the lease was lost).</summary>
    private sealed record PendingCompletion(QueryCompletion Completion)
    {
        public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
