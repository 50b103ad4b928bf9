using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Service.Tests;

/// <summary>
/// A real store with hooks that stand in for a slow network or a long pause: a user lookup that hangs until
/// cancelled, renewals that wait for a gate, completions that wait for a gate, and an outage switch that makes
/// every queue call throw <see cref="StoreUnavailableException"/>.
/// </summary>
internal sealed class ScriptedStore(ICybexpStore inner) : ICybexpStore
{
    public TaskCompletionSource RenewGate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource CompleteGate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When set, renewals wait for <see cref="RenewGate"/>.</summary>
    public bool HoldRenewals { get; set; }

    /// <summary>When set, completions wait for <see cref="CompleteGate"/>.</summary>
    public bool HoldCompletions { get; set; }

    /// <summary>When set, the next user lookup hangs until its token is cancelled.</summary>
    public bool HangNextUserLookup { get; set; }

    /// <summary>When set, every queue call fails as if the database were down.</summary>
    public bool Down { get; set; }

    public TaskCompletionSource UserLookupHanging { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Runs once, when a claim first finds nothing, before the claim returns (e.g. another client enqueues then).</summary>
    public Func<Task>? AfterFirstEmptyClaim { get; set; }

    public IArchiveStore Archive => inner.Archive;

    public IIdentityStore Identity => new IdentityHooks(this, inner.Identity);

    public IQueryStore Queries => new QueueHooks(this, inner.Queries);

    public string Description => "scripted " + inner.Description;

    public Task<bool> PingAsync(CancellationToken cancellationToken) => inner.PingAsync(cancellationToken);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private int _afterFirstEmptyClaimTaken;

    private void ThrowIfDown()
    {
        if (Down)
        {
            throw new StoreUnavailableException("scripted outage: the database is down");
        }
    }

    private sealed class IdentityHooks(ScriptedStore s, IIdentityStore i) : IIdentityStore
    {
        public async Task<UserRecord?> FindUserAsync(string hashOrEmail, CancellationToken cancellationToken)
        {
            if (s.HangNextUserLookup)
            {
                s.HangNextUserLookup = false;
                s.UserLookupHanging.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return await i.FindUserAsync(hashOrEmail, cancellationToken);
        }

        public Task<OrgRecord?> FindOrgAsync(string hashOrName, CancellationToken cancellationToken) => i.FindOrgAsync(hashOrName, cancellationToken);

        public Task<IReadOnlyList<UserRecord>> ListUsersAsync(CancellationToken cancellationToken) => i.ListUsersAsync(cancellationToken);

        public Task<IReadOnlyList<OrgRecord>> ListOrgsAsync(CancellationToken cancellationToken) => i.ListOrgsAsync(cancellationToken);

        public Task<Visibility> VisibilityOfAsync(InstanceHash user, CancellationToken cancellationToken) => i.VisibilityOfAsync(user, cancellationToken);

        public Task<TahoeDict?> GetIdentityDocumentAsync(InstanceHash hash, CancellationToken cancellationToken) => i.GetIdentityDocumentAsync(hash, cancellationToken);
    }

    private sealed class QueueHooks(ScriptedStore s, IQueryStore q) : IQueryStore
    {
        public Task<long> EnqueueAsync(QuerySubmission submission, CancellationToken cancellationToken) => q.EnqueueAsync(submission, cancellationToken);

        public async Task<QueryClaim?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
        {
            s.ThrowIfDown();
            var claim = await q.ClaimNextAsync(workerId, lease, cancellationToken);
            if (claim is null && Interlocked.Exchange(ref s._afterFirstEmptyClaimTaken, 1) == 0 && s.AfterFirstEmptyClaim is { } hook)
            {
                await hook();
            }

            return claim;
        }

        public async Task<bool> RenewAsync(QueryClaim claim, TimeSpan lease, CancellationToken cancellationToken)
        {
            if (s.HoldRenewals)
            {
                await s.RenewGate.Task.WaitAsync(cancellationToken);
            }

            s.ThrowIfDown();
            return await q.RenewAsync(claim, lease, cancellationToken);
        }

        public async Task<bool> CompleteAsync(QueryClaim claim, QueryOutcome outcome, CancellationToken cancellationToken)
        {
            if (s.HoldCompletions)
            {
                await s.CompleteGate.Task.WaitAsync(cancellationToken);
            }

            s.ThrowIfDown();
            return await q.CompleteAsync(claim, outcome, cancellationToken);
        }

        public Task<bool> ReleaseAsync(QueryClaim claim, CancellationToken cancellationToken)
        {
            s.ThrowIfDown();
            return q.ReleaseAsync(claim, cancellationToken);
        }

        public Task<QueryRecord?> GetAsync(long id, CancellationToken cancellationToken) => q.GetAsync(id, cancellationToken);

        public Task<QueryRecord?> FindRecentAsync(string userId, string qtype, string qhash, double since, CancellationToken cancellationToken) =>
            q.FindRecentAsync(userId, qtype, qhash, since, cancellationToken);

        public Task<bool> RequeueAsync(long id, CancellationToken cancellationToken) => q.RequeueAsync(id, cancellationToken);

        public Task<RecentSubmission> SubmitOnceAsync(QuerySubmission submission, double since, bool redo, CancellationToken cancellationToken) =>
            q.SubmitOnceAsync(submission, since, redo, cancellationToken);

        public Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken) => q.CountByStatusAsync(cancellationToken);

        public long WorkSignals => q.WorkSignals;

        public Task WaitForWorkAsync(long seen, TimeSpan pollInterval, CancellationToken cancellationToken) => q.WaitForWorkAsync(seen, pollInterval, cancellationToken);

        public Task HeartbeatAsync(string workerId, CancellationToken cancellationToken)
        {
            s.ThrowIfDown();
            return q.HeartbeatAsync(workerId, cancellationToken);
        }

        public Task RetireWorkerAsync(string workerId, CancellationToken cancellationToken)
        {
            s.ThrowIfDown();
            return q.RetireWorkerAsync(workerId, cancellationToken);
        }

        public Task<int> CountLiveWorkersAsync(double since, CancellationToken cancellationToken) => q.CountLiveWorkersAsync(since, cancellationToken);

        public Task<QueryRecord?> WaitForEndAsync(long id, TimeSpan timeout, CancellationToken cancellationToken) => q.WaitForEndAsync(id, timeout, cancellationToken);
    }
}
