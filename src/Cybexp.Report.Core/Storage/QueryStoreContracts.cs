using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Storage;

/// <summary>Query status names, as the original TDQL uses them.</summary>
public static class QueryStatus
{
    /// <summary>Submitted, waiting for a worker.</summary>
    public const string Wait = "wait";
    /// <summary>Claimed by a worker holding a lease.</summary>
    public const string Processing = "processing";
    /// <summary>The report is stored.</summary>
    public const string Ready = "ready";
    /// <summary>The query ended with an error report.</summary>
    public const string Failed = "failed";
}

/// <summary>Where to send the nonce when a query ends (the original API's TCP listener).</summary>
public sealed record NotifySocket(string Host, int Port, string Nonce);

/// <summary>A query as submitted: type, query data (JSON text, or the encrypted blob as text), the user, and an optional socket.</summary>
/// <param name="QType">count, related or threatrank (validated by the worker, not here).</param>
/// <param name="QData">The qdata: canonical/plain JSON when not encrypted; base64 or a Python bytes literal when encrypted.</param>
/// <param name="Encrypted">True when <paramref name="QData"/> must be decrypted with the cluster's key.</param>
/// <param name="UserId">The asking user's hash.</param>
/// <param name="QHash">SHA-256 of the canonical qdata, when known (the original's de-duplication key).</param>
/// <param name="Notify">Socket to notify when the query ends, if any.</param>
public sealed record QuerySubmission(string QType, string QData, bool Encrypted, string UserId, string? QHash, NotifySocket? Notify);

/// <summary>A stored query and, once it ended, its report.</summary>
public sealed record QueryRecord(
    long Id,
    string QType,
    string QData,
    bool Encrypted,
    string UserId,
    string? QHash,
    string Status,
    int Attempts,
    double SubmittedAt,
    double? FinishedAt,
    NotifySocket? Notify,
    string? ReportHash,
    string? ReportJson,
    string? Error);

/// <summary>A worker's claim on a query: valid while its lease lasts; every write after the claim is fenced on it.</summary>
public sealed record QueryClaim(long QueryId, string LeaseToken, int Attempt, double LeaseExpiresAt, QueryRecord Query)
{
    /// <summary>
    /// The store's identity version (<see cref="UserAccess.IdentityVersion"/>) when the claim was made, or null when
    /// the store does not version identities. A user's access read at this version or a later one is current for the
    /// query, so a worker may answer it from a cache instead of asking the store again.
    /// </summary>
    public long? IdentityVersion { get; init; }
}

/// <summary>The final result of a query: status ready or failed, the report document and its hash.</summary>
public sealed record QueryOutcome(string Status, string ReportJson, InstanceHash ReportHash, string? Error);

/// <summary>
/// What <see cref="IQueryStore.SubmitOnceAsync"/> did: <see cref="Existing"/> is the recent query found (as it was
/// before any requeue) and <see cref="Id"/> its id, or <see cref="Existing"/> is null and <see cref="Id"/> is the query
/// just enqueued; <see cref="Requeued"/> tells whether a redo put the found query back to <c>wait</c>.
/// </summary>
public sealed record RecentSubmission(long Id, QueryRecord? Existing, bool Requeued)
{
    /// <summary>
    /// The decision of <see cref="IQueryStore.SubmitOnceAsync"/>, for stores to run inside their lock or transaction:
    /// the recent query <paramref name="find"/> returns, requeued when <paramref name="redo"/> is set; or, when there is
    /// none, the query <paramref name="enqueue"/> stores.
    /// </summary>
    public static async Task<RecentSubmission> DecideAsync(Func<Task<QueryRecord?>> find, Func<Task<long>> enqueue, Func<long, Task<bool>> requeue, bool redo)
    {
        ArgumentNullException.ThrowIfNull(find);
        ArgumentNullException.ThrowIfNull(enqueue);
        ArgumentNullException.ThrowIfNull(requeue);
        var existing = await find().ConfigureAwait(false);
        return existing is null
            ? new RecentSubmission(await enqueue().ConfigureAwait(false), null, false)
            : new RecentSubmission(existing.Id, existing, redo && await requeue(existing.Id).ConfigureAwait(false));
    }

    /// <summary>True when the decision put a query in the queue (a new one, or a requeued one): workers should be woken.</summary>
    public bool Queued => Existing is null || Requeued;
}

/// <summary>One claim to complete with its outcome (see <see cref="IQueryStore.CompleteManyAsync"/>).</summary>
public readonly record struct QueryCompletion(QueryClaim Claim, QueryOutcome Outcome);

/// <summary>What <see cref="IQueryStore.CompleteAndClaimAsync"/> did.</summary>
/// <param name="Stored">Whether each completion was stored, in the order given.</param>
/// <param name="Claims">The queries claimed after them, oldest first.</param>
public sealed record CompletedAndClaimed(IReadOnlyList<bool> Stored, IReadOnlyList<QueryClaim> Claims);

/// <summary>
/// The query queue and report store. Claims are atomic (one worker per query), leases expire so a dead worker's query is
/// claimed again, and completion stores report and final status in one transaction, only while the lease holds.
/// </summary>
public interface IQueryStore
{
    /// <summary>Stores a new query with status <c>wait</c> and wakes idle workers; returns its id.</summary>
    Task<long> EnqueueAsync(QuerySubmission submission, CancellationToken cancellationToken);

    /// <summary>
    /// Claims the oldest waiting query, or one whose lease expired (its worker died), counting one more attempt.
    /// The caller decides what to do with a claim whose <see cref="QueryClaim.Attempt"/> exceeds its limit (end it
    /// failed). Returns null when nothing is claimable.
    /// </summary>
    Task<QueryClaim?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Claims up to <paramref name="max"/> claimable queries at once, oldest first, each exactly as
    /// <see cref="ClaimNextAsync"/> would (one more attempt, a lease of its own). Empty when nothing is claimable.
    /// Stores that can claim several rows in one statement override this; the default claims one at a time.
    /// </summary>
    async Task<IReadOnlyList<QueryClaim>> ClaimManyAsync(string workerId, TimeSpan lease, int max, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var claims = new List<QueryClaim>();
        while (claims.Count < max && await ClaimNextAsync(workerId, lease, cancellationToken).ConfigureAwait(false) is { } claim)
        {
            claims.Add(claim);
        }

        return claims;
    }

    /// <summary>Extends the lease; false when the claim was lost (expired and taken, or completed).</summary>
    Task<bool> RenewAsync(QueryClaim claim, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Stores the outcome and final status atomically, only if <paramref name="claim"/> still holds; false otherwise.</summary>
    Task<bool> CompleteAsync(QueryClaim claim, QueryOutcome outcome, CancellationToken cancellationToken);

    /// <summary>
    /// Completes several claims, each as <see cref="CompleteAsync"/> does: its outcome and final status are stored
    /// atomically, only if that claim still holds. Returns, in the order given, whether each was stored. Stores that
    /// can complete several in one round trip override this; the default completes one at a time.
    /// </summary>
    async Task<IReadOnlyList<bool>> CompleteManyAsync(IReadOnlyList<QueryCompletion> completions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completions);
        var done = new bool[completions.Count];
        for (var i = 0; i < completions.Count; i++)
        {
            done[i] = await CompleteAsync(completions[i].Claim, completions[i].Outcome, cancellationToken).ConfigureAwait(false);
        }

        return done;
    }

    /// <summary>
    /// Completes several claims as <see cref="CompleteManyAsync"/> does, then claims up to <paramref name="max"/> queries
    /// as <see cref="ClaimManyAsync"/> does (a worker takes new queries for the slots the completed ones free). Stores
    /// that can do both in one round trip override this, storing the completions and making the claims in one
    /// transaction. The default completes, then claims; claiming is only a head start there: when it fails after the
    /// completions were stored, the default returns no claims rather than the error, and the caller claims again later.
    /// </summary>
    /// <returns>Whether each completion was stored (in the order given), and the claims made (oldest first).</returns>
    async Task<CompletedAndClaimed> CompleteAndClaimAsync(IReadOnlyList<QueryCompletion> completions, string workerId, TimeSpan lease, int max, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        var stored = await CompleteManyAsync(completions, cancellationToken).ConfigureAwait(false);
        if (max == 0)
        {
            return new CompletedAndClaimed(stored, []);
        }

        try
        {
            return new CompletedAndClaimed(stored, await ClaimManyAsync(workerId, lease, max, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new CompletedAndClaimed(stored, []);
        }
    }

    /// <summary>Gives the query back to the queue (status <c>wait</c>) without counting the attempt; false when the claim was lost.</summary>
    Task<bool> ReleaseAsync(QueryClaim claim, CancellationToken cancellationToken);

    /// <summary>The query with this id, or null.</summary>
    Task<QueryRecord?> GetAsync(long id, CancellationToken cancellationToken);

    /// <summary>
    /// The newest query of this user with this qtype and qhash submitted at or after <paramref name="since"/>
    /// (the original API's same-hour de-duplication), or null.
    /// </summary>
    Task<QueryRecord?> FindRecentAsync(string userId, string qtype, string qhash, double since, CancellationToken cancellationToken);

    /// <summary>Puts an ended query back to <c>wait</c> (the original's <c>redo</c>); false when it is still being processed.</summary>
    Task<bool> RequeueAsync(long id, CancellationToken cancellationToken);

    /// <summary>
    /// The original API's same-hour de-duplication as one atomic step, also across processes sharing the store: finds
    /// the newest query of the submitting user with the submission's qtype and qhash submitted at or after
    /// <paramref name="since"/> (as <see cref="FindRecentAsync"/>); enqueues the submission when there is none; requeues
    /// the one found when <paramref name="redo"/> is set (as <see cref="RequeueAsync"/>). Two identical submissions
    /// racing in different processes end up with one query, never two.
    /// </summary>
    /// <exception cref="ArgumentException">The submission has no qhash (an encrypted query cannot be de-duplicated).</exception>
    Task<RecentSubmission> SubmitOnceAsync(QuerySubmission submission, double since, bool redo, CancellationToken cancellationToken);

    /// <summary>Counts queries by status.</summary>
    Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken);

    /// <summary>
    /// How many work signals (a query enqueued or released, in this process or, where the store can tell, in another)
    /// this store instance has seen. A worker reads it before it claims and waits with it when the claim found nothing
    /// (<see cref="WaitForWorkAsync(long, TimeSpan, CancellationToken)"/>), so a query enqueued after the claim looked
    /// wakes it even when the signal arrives before the wait begins.
    /// </summary>
    long WorkSignals { get; }

    /// <summary>
    /// Waits until work may be available: returns at once when a work signal arrived since <see cref="WorkSignals"/>
    /// was <paramref name="seen"/>; else waits for the next one (a new query was enqueued: in-process signal, or
    /// LISTEN/NOTIFY across processes), <paramref name="pollInterval"/>, or cancellation.
    /// </summary>
    Task WaitForWorkAsync(long seen, TimeSpan pollInterval, CancellationToken cancellationToken);

    /// <summary>Waits for the next work signal, <paramref name="pollInterval"/>, or cancellation.</summary>
    Task WaitForWorkAsync(TimeSpan pollInterval, CancellationToken cancellationToken) =>
        WaitForWorkAsync(WorkSignals, pollInterval, cancellationToken);

    /// <summary>Records that worker <paramref name="workerId"/> is alive now (workers call it periodically).</summary>
    Task HeartbeatAsync(string workerId, CancellationToken cancellationToken);

    /// <summary>Removes the heartbeat of a worker that stops.</summary>
    Task RetireWorkerAsync(string workerId, CancellationToken cancellationToken);

    /// <summary>Number of workers whose last heartbeat is at or after <paramref name="since"/> (epoch seconds).</summary>
    Task<int> CountLiveWorkersAsync(double since, CancellationToken cancellationToken);

    /// <summary>Waits until query <paramref name="id"/> ends or <paramref name="timeout"/> passes; returns its record.</summary>
    Task<QueryRecord?> WaitForEndAsync(long id, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>One store holding archive, identity and queries (one SQLite file or one PostgreSQL database).</summary>
public interface ICybexpStore : IAsyncDisposable
{
    /// <summary>The archive.</summary>
    IArchiveStore Archive { get; }

    /// <summary>Users and orgs.</summary>
    IIdentityStore Identity { get; }

    /// <summary>Queries and reports.</summary>
    IQueryStore Queries { get; }

    /// <summary>A human-readable description of where the data lives (file path or host/database; never a password).</summary>
    string Description { get; }

    /// <summary>Checks that the store answers.</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken);
}
