using Cybexp.Report.Core.Storage;
using Npgsql;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// The query queue in PostgreSQL. The claim is one <c>UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)</c>:
/// concurrent workers in any process each take a different row without waiting on each other. Enqueue and release
/// NOTIFY the store's work channel; completion notifies the end channel only for queries someone waits for (see
/// <see cref="WaitForEndAsync"/>). Waiters listen through the store's listener and also wake on this instance's own
/// writes.
/// </summary>
internal sealed class PostgresQueryStore(PostgresStore store) : IQueryStore
{
    private const string Columns = "id, qtype, qdata, encrypted, userid, qhash, status, attempts, submitted, finished, notify_host, notify_port, notify_nonce, report_hash, report, error, lease_token, lease_expires";
    private const string QualifiedColumns = "q.id, q.qtype, q.qdata, q.encrypted, q.userid, q.qhash, q.status, q.attempts, q.submitted, q.finished, q.notify_host, q.notify_port, q.notify_nonce, q.report_hash, q.report, q.error, q.lease_token, q.lease_expires";

    public Task<long> EnqueueAsync(QuerySubmission submission, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            var id = await InsertAsync(conn, null, submission, cancellationToken).ConfigureAwait(false);
            store.Enqueued.Set();
            return id;
        },
        cancellationToken);

    public Task<RecentSubmission> SubmitOnceAsync(QuerySubmission submission, double since, bool redo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var qhash = submission.QHash ?? throw new ArgumentException("a query without qhash (encrypted) cannot be de-duplicated", nameof(submission));
        return store.RunAsync(
            async conn =>
            {
                RecentSubmission result;
                await using (var tx = await conn.BeginTransactionAsync(cancellationToken).ConfigureAwait(false))
                {
                    // A transaction lock on this user's query (in this store's queue): a second process deciding about
                    // the same query waits here until this transaction commits, then finds the query stored here.
                    await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended($1, 0));", conn, tx))
                    {
                        lockCmd.Parameters.AddWithValue($"{store.WorkChannel} submit {submission.UserId} {submission.QType} {qhash}");
                        await lockCmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    result = await RecentSubmission.DecideAsync(
                        () => FindAsync(conn, tx, submission.UserId, submission.QType, qhash, since, cancellationToken),
                        () => InsertAsync(conn, tx, submission, cancellationToken),
                        id => RequeueOnAsync(conn, tx, id, cancellationToken),
                        redo).ConfigureAwait(false);
                    await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                }

                if (result.Queued)
                {
                    store.Enqueued.Set();
                }

                return result;
            },
            cancellationToken);
    }

    private async Task<long> InsertAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, QuerySubmission submission, CancellationToken cancellationToken)
    {
        // The notification is delivered when the insert commits, so a woken worker finds the row.
        await using var cmd = new NpgsqlCommand(
            "WITH q AS (INSERT INTO queries (qtype, qdata, encrypted, userid, qhash, status, submitted, notify_host, notify_port, notify_nonce) " +
            "VALUES ($1, $2, $3, $4, $5, 'wait', $6, $7, $8, $9) RETURNING id) " +
            "SELECT id, pg_notify($10, id::text) FROM q;",
            conn,
            tx);
        cmd.Parameters.AddWithValue(submission.QType);
        cmd.Parameters.AddWithValue(submission.QData);
        cmd.Parameters.AddWithValue(submission.Encrypted);
        cmd.Parameters.AddWithValue(submission.UserId);
        cmd.Parameters.Add(Text(submission.QHash));
        cmd.Parameters.AddWithValue(store.Time.NowSeconds());
        cmd.Parameters.Add(Text(submission.Notify?.Host));
        cmd.Parameters.Add(new NpgsqlParameter<int?> { TypedValue = submission.Notify?.Port, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
        cmd.Parameters.Add(Text(submission.Notify?.Nonce));
        cmd.Parameters.AddWithValue(store.WorkChannel);
        return (long)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    public async Task<QueryClaim?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        var claims = await ClaimManyAsync(workerId, lease, 1, cancellationToken).ConfigureAwait(false);
        return claims.Count > 0 ? claims[0] : null;
    }

    public Task<IReadOnlyList<QueryClaim>> ClaimManyAsync(string workerId, TimeSpan lease, int max, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        return store.RunAsync<IReadOnlyList<QueryClaim>>(
            async conn =>
            {
                await using var batch = new NpgsqlBatch(conn);
                batch.BatchCommands.Add(ClaimCommand(workerId, lease, max));
                await using var r = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                return await ReadClaimsAsync(r, cancellationToken).ConfigureAwait(false);
            },
            cancellationToken);
    }

    private NpgsqlBatchCommand ClaimCommand(string workerId, TimeSpan lease, int max)
    {
        var now = store.Time.NowSeconds();

        // One statement: the sub-selects lock the oldest waiting rows and the longest-expired leases (each
        // through its own partial index, so queries in progress are never visited), skipping rows other
        // workers hold; the oldest of them are claimed (the rest are unlocked when the statement ends). The
        // identity version is read in the same statement, so it is at least as new as every identity change
        // that committed before the claim.
        //
        // The limits are sub-selects, (SELECT $4), so that no plan knows the limit's value: a custom plan then
        // costs what the generic one does, and the server keeps the prepared statement's generic plan (an
        // ordered scan of each partial index) whatever the table's statistics say. With a plain LIMIT $4 the
        // generic plan assumed a tenth of the waiting rows; while many queries waited it looked dearer than a
        // custom plan for one or two, and the claim was planned again on up to 94 % of its calls (0.65 ms per
        // claim in that benchmark run).
        //
        // Expired leases are looked for at most once per LeaseSweepSeconds by this store instance (each worker
        // process has its own), not on every claim: under load the partial lease index is full of entries of rows
        // that finished since the last vacuum, and the sub-select walked them on every claim, the dearest part of it
        // (896 of 973 buffers in the slowest claim logged), to find nothing. A dead worker's queries are taken again
        // at most that much later than their leases expire.
        var sweep = now >= Volatile.Read(ref _nextLeaseSweep);
        if (sweep)
        {
            Volatile.Write(ref _nextLeaseSweep, now + LeaseSweepSeconds);
        }

        var cmd = new NpgsqlBatchCommand(sweep ? ClaimWithSweepSql : ClaimSql);
        cmd.Parameters.AddWithValue(workerId);
        cmd.Parameters.AddWithValue(now + lease.TotalSeconds);
        cmd.Parameters.AddWithValue((long)max);
        if (sweep)
        {
            cmd.Parameters.AddWithValue(now);
        }

        return cmd;
    }

    /// <summary>How often one store instance's claims also look for expired leases (seconds).</summary>
    private const double LeaseSweepSeconds = 1;

    private const string ClaimUpdateSql =
        "UPDATE queries q SET status = 'processing', attempts = q.attempts + 1, claims = q.claims + 1, lease_token = $1 || '#' || q.id || '#' || (q.claims + 1), lease_expires = $2 " +
        $"FROM c WHERE q.id = c.id RETURNING {QualifiedColumns}, (SELECT version FROM identity_version WHERE id = 1);";

    private const string ClaimSql =
        "WITH c AS (SELECT id FROM queries WHERE status = 'wait' ORDER BY id LIMIT (SELECT $3) FOR UPDATE SKIP LOCKED) " + ClaimUpdateSql;

    private const string ClaimWithSweepSql =
        "WITH waiting AS (SELECT id FROM queries WHERE status = 'wait' ORDER BY id LIMIT (SELECT $3) FOR UPDATE SKIP LOCKED), " +
        "expired AS (SELECT id FROM queries WHERE status = 'processing' AND lease_expires < $4 ORDER BY lease_expires LIMIT (SELECT $3) FOR UPDATE SKIP LOCKED), " +
        "c AS (SELECT id FROM waiting UNION ALL SELECT id FROM expired ORDER BY id LIMIT (SELECT $3)) " + ClaimUpdateSql;

    /// <summary>The store's clock (seconds) from which the next claim looks for expired leases again.</summary>
    private double _nextLeaseSweep = double.NegativeInfinity;

    private static async Task<IReadOnlyList<QueryClaim>> ReadClaimsAsync(NpgsqlDataReader r, CancellationToken cancellationToken)
    {
        var claims = new List<QueryClaim>();
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var record = Read(r);
            claims.Add(new QueryClaim(record.Id, r.GetString(16), record.Attempts, r.GetDouble(17), record) { IdentityVersion = r.GetInt64(18) });
        }

        // RETURNING follows no order: hand the claims out oldest first.
        claims.Sort((a, b) => a.QueryId.CompareTo(b.QueryId));
        return claims;
    }

    public Task<bool> RenewAsync(QueryClaim claim, TimeSpan lease, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("UPDATE queries SET lease_expires = $1 WHERE id = $2 AND lease_token = $3 AND status = 'processing';", conn);
            cmd.Parameters.AddWithValue(store.Time.NowSeconds() + lease.TotalSeconds);
            cmd.Parameters.AddWithValue(claim.QueryId);
            cmd.Parameters.AddWithValue(claim.LeaseToken);
            return await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        },
        cancellationToken);

    public async Task<bool> CompleteAsync(QueryClaim claim, QueryOutcome outcome, CancellationToken cancellationToken)
    {
        var done = await CompleteManyAsync([new QueryCompletion(claim, outcome)], cancellationToken).ConfigureAwait(false);
        return done[0];
    }

    public Task<IReadOnlyList<bool>> CompleteManyAsync(IReadOnlyList<QueryCompletion> completions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completions);
        if (completions.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<bool>>([]);
        }

        return store.RunAsync<IReadOnlyList<bool>>(
            async conn =>
            {
                await using var batch = new NpgsqlBatch(conn);
                AddCompletions(batch, completions);
                IReadOnlyList<bool> stored;
                await using (var r = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    stored = await ReadCompletionsAsync(r, completions.Count, cancellationToken).ConfigureAwait(false);
                }

                SignalEnded(stored);
                return stored;
            },
            cancellationToken);
    }

    /// <summary>
    /// The completions and the claim in one batch: one round trip, one (implicit) transaction. The claim runs after the
    /// completions, in the same transaction, and either both commit or neither does (the caller then releases its
    /// claims as after any failed completion).
    /// </summary>
    public Task<CompletedAndClaimed> CompleteAndClaimAsync(IReadOnlyList<QueryCompletion> completions, string workerId, TimeSpan lease, int max, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completions);
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        return store.RunAsync(
            async conn =>
            {
                await using var batch = new NpgsqlBatch(conn);
                AddCompletions(batch, completions);
                if (max > 0)
                {
                    batch.BatchCommands.Add(ClaimCommand(workerId, lease, max));
                }

                if (batch.BatchCommands.Count == 0)
                {
                    return new CompletedAndClaimed([], []);
                }

                IReadOnlyList<bool> stored;
                IReadOnlyList<QueryClaim> claims = [];
                await using (var r = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    stored = await ReadCompletionsAsync(r, completions.Count, cancellationToken).ConfigureAwait(false);
                    if (max > 0)
                    {
                        if (completions.Count > 0)
                        {
                            await r.NextResultAsync(cancellationToken).ConfigureAwait(false);
                        }

                        claims = await ReadClaimsAsync(r, cancellationToken).ConfigureAwait(false);
                    }
                }

                // Signalled once the reader is done, i.e. once the batch's transaction has committed.
                SignalEnded(stored);
                return new CompletedAndClaimed(stored, claims);
            },
            cancellationToken);
    }

    private void AddCompletions(NpgsqlBatch batch, IReadOnlyList<QueryCompletion> completions)
    {
        // One batch, so one round trip and one (implicit) transaction: one statement per claim, each fenced on
        // its own lease token (a worker that lost a claim writes nothing for it and notifies no one), and each
        // report is stored with its final status. Waiters re-read the queries they wait for, so one
        // notification (same payload, sent once per transaction) serves every query completed here; it is sent
        // only when one of them has a waiter (end_waited, set by WaitForEndAsync before it waits): a NOTIFY
        // signals every listening backend of the database and its commit takes a database-wide lock.
        //
        // One small statement per row rather than one over arrays: a statement that finds its row by primary
        // key has the same plan whatever the parameters, so the server keeps the generic plan of the prepared
        // statement. The set-wise statement (UPDATE … FROM unnest(…)) was planned again on almost every call
        // (its generic plan assumes ten rows and looked dearer than a plan for the actual one or two), and
        // planning cost as much as running it. The row is found by key and fenced on the lease token alone: a
        // row has a token exactly while it is being processed (claim sets it, completion and release clear
        // it), and a status test here let the planner pick a bitmap scan of the partial lease index, which
        // never marks dead index entries (742 buffers per completion in one benchmark run, 25 otherwise).
        var now = store.Time.NowSeconds();
        foreach (var (claim, outcome) in completions)
        {
            var cmd = new NpgsqlBatchCommand(
                "WITH u AS (UPDATE queries SET status = $1, report = $2, report_hash = $3, error = $4, finished = $5, lease_token = NULL, lease_expires = NULL " +
                "WHERE id = $6 AND lease_token = $7 RETURNING id, end_waited) " +
                "SELECT id, CASE WHEN end_waited THEN pg_notify($8, 'ended') END FROM u;");
            cmd.Parameters.AddWithValue(outcome.Status);
            cmd.Parameters.AddWithValue(outcome.ReportJson);
            cmd.Parameters.AddWithValue(outcome.ReportHash.Value);
            cmd.Parameters.Add(Text(outcome.Error));
            cmd.Parameters.AddWithValue(now);
            cmd.Parameters.AddWithValue(claim.QueryId);
            cmd.Parameters.AddWithValue(claim.LeaseToken);
            cmd.Parameters.AddWithValue(store.EndChannel);
            batch.BatchCommands.Add(cmd);
        }
    }

    /// <summary>Reads the results of <paramref name="n"/> completion statements, leaving the reader on the last one.</summary>
    private static async Task<IReadOnlyList<bool>> ReadCompletionsAsync(NpgsqlDataReader r, int n, CancellationToken cancellationToken)
    {
        // Each statement returns its row when its claim held, nothing otherwise; results come in order.
        var done = new bool[n];
        for (var i = 0; i < n; i++)
        {
            done[i] = await r.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (i + 1 < n)
            {
                await r.NextResultAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        return done;
    }

    /// <summary>Wakes this instance's waiters for ends once some completion was stored.</summary>
    private void SignalEnded(IReadOnlyList<bool> stored)
    {
        if (stored.Any(d => d))
        {
            store.Ended.Set();
        }
    }

    public Task<bool> ReleaseAsync(QueryClaim claim, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "WITH u AS (UPDATE queries SET status = 'wait', attempts = attempts - 1, lease_token = NULL, lease_expires = NULL " +
                "WHERE id = $1 AND lease_token = $2 AND status = 'processing' RETURNING id) " +
                "SELECT id, pg_notify($3, id::text) FROM u;",
                conn);
            cmd.Parameters.AddWithValue(claim.QueryId);
            cmd.Parameters.AddWithValue(claim.LeaseToken);
            cmd.Parameters.AddWithValue(store.WorkChannel);
            var released = await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null;
            if (released)
            {
                store.Enqueued.Set();
            }

            return released;
        },
        cancellationToken);

    public Task<QueryRecord?> GetAsync(long id, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM queries WHERE id = $1;", conn);
            cmd.Parameters.AddWithValue(id);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(r) : null;
        },
        cancellationToken);

    public Task<QueryRecord?> FindRecentAsync(string userId, string qtype, string qhash, double since, CancellationToken cancellationToken) => store.RunAsync(
        conn => FindAsync(conn, null, userId, qtype, qhash, since, cancellationToken),
        cancellationToken);

    public Task<bool> RequeueAsync(long id, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            var requeued = await RequeueOnAsync(conn, null, id, cancellationToken).ConfigureAwait(false);
            if (requeued)
            {
                store.Enqueued.Set();
            }

            return requeued;
        },
        cancellationToken);

    private static async Task<QueryRecord?> FindAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string userId, string qtype, string qhash, double since, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM queries WHERE userid = $1 AND qhash = $2 AND qtype = $3 AND submitted >= $4 ORDER BY id DESC LIMIT 1;", conn, tx);
        cmd.Parameters.AddWithValue(userId);
        cmd.Parameters.AddWithValue(qhash);
        cmd.Parameters.AddWithValue(qtype);
        cmd.Parameters.AddWithValue(since);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(r) : null;
    }

    private async Task<bool> RequeueOnAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long id, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(
            "WITH u AS (UPDATE queries SET status = 'wait', attempts = 0, report = NULL, report_hash = NULL, error = NULL, finished = NULL " +
            "WHERE id = $1 AND status IN ('ready', 'failed', 'wait') RETURNING id) " +
            "SELECT id, pg_notify($2, id::text) FROM u;",
            conn,
            tx);
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(store.WorkChannel);
        return await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null;
    }

    public Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken) => store.RunAsync<IReadOnlyDictionary<string, long>>(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT status, count(*) FROM queries GROUP BY status ORDER BY status;", conn);
            var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                result[r.GetString(0)] = r.GetInt64(1);
            }

            return result;
        },
        cancellationToken);

    public Task HeartbeatAsync(string workerId, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("INSERT INTO workers (id, last_seen) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen;", conn);
            cmd.Parameters.AddWithValue(workerId);
            cmd.Parameters.AddWithValue(store.Time.NowSeconds());
            return await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        },
        cancellationToken);

    public Task RetireWorkerAsync(string workerId, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("DELETE FROM workers WHERE id = $1;", conn);
            cmd.Parameters.AddWithValue(workerId);
            return await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        },
        cancellationToken);

    public Task<int> CountLiveWorkersAsync(double since, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM workers WHERE last_seen >= $1;", conn);
            cmd.Parameters.AddWithValue(since);
            return (int)(long)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        },
        cancellationToken);

    public long WorkSignals => store.Enqueued.Count;

    public async Task WaitForWorkAsync(long seen, TimeSpan pollInterval, CancellationToken cancellationToken)
    {
        // Take the signal before the listener is asked for the work channel: its LISTEN (when it was not listening)
        // wakes this waiter, so an enqueue made before costs a re-check, not a poll interval.
        var wait = store.Enqueued.WaitAsync(seen, pollInterval, store.Time, cancellationToken);
        using (store.Listener.WaitingForWork())
        {
            await wait.ConfigureAwait(false);
        }
    }

    public async Task<QueryRecord?> WaitForEndAsync(long id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = store.Time.GetUtcNow() + timeout;
        var marked = false;
        while (true)
        {
            // Take the signal before reading, so an end between the read and the wait is not missed.
            var wait = store.Ended.WaitAsync(TimeSpan.FromMilliseconds(250), store.Time, cancellationToken);
            store.Listener.EnsureListening(work: false, end: true);
            QueryRecord? record;
            if (marked)
            {
                record = await GetAsync(id, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                record = await MarkWaitedAsync(id, cancellationToken).ConfigureAwait(false);
                marked = true;
            }

            var left = deadline - store.Time.GetUtcNow();
            if (record is null || record.Status is QueryStatus.Ready or QueryStatus.Failed || left <= TimeSpan.Zero)
            {
                return record;
            }

            await wait.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Flags the query as waited for (so its completion notifies) and reads it. The flag is set on the query while it is
    /// still waiting or processing; a completion that commits after it sees the flag (its update waits for this
    /// statement's row lock and then re-reads the row), and the read runs after the flag, in a snapshot of its own, so
    /// a completion that came first is seen here. Either way the end is not missed.
    /// </summary>
    /// <remarks>
    /// While the flag's row lock is held, a claim (<c>FOR UPDATE SKIP LOCKED</c>) passes over the query; when the query
    /// was waiting, the flag's transaction therefore notifies the work channel, as an enqueue does, so an idle worker
    /// that just passed over it claims it at once instead of at its next poll.
    /// </remarks>
    private Task<QueryRecord?> MarkWaitedAsync(long id, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var batch = new NpgsqlBatch(conn);
            var mark = new NpgsqlBatchCommand(
                "WITH m AS (UPDATE queries SET end_waited = true WHERE id = $1 AND status IN ('wait', 'processing') AND NOT end_waited RETURNING id, status) " +
                "SELECT pg_notify($2, id::text) FROM m WHERE status = 'wait';");
            mark.Parameters.AddWithValue(id);
            mark.Parameters.AddWithValue(store.WorkChannel);
            batch.BatchCommands.Add(mark);
            var read = new NpgsqlBatchCommand($"SELECT {Columns} FROM queries WHERE id = $1;");
            read.Parameters.AddWithValue(id);
            batch.BatchCommands.Add(read);
            await using var r = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var notified = await r.ReadAsync(cancellationToken).ConfigureAwait(false);
            await r.NextResultAsync(cancellationToken).ConfigureAwait(false);
            var record = await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(r) : null;
            if (notified)
            {
                store.Enqueued.Set();
            }

            return record;
        },
        cancellationToken);

    private static NpgsqlParameter<string?> Text(string? value) => new() { TypedValue = value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text };

    private static QueryRecord Read(NpgsqlDataReader r)
    {
        NotifySocket? notify = r.IsDBNull(10) ? null : new NotifySocket(r.GetString(10), r.GetInt32(11), r.GetString(12));
        return new QueryRecord(
            r.GetInt64(0),
            r.GetString(1),
            r.GetString(2),
            r.GetBoolean(3),
            r.GetString(4),
            r.IsDBNull(5) ? null : r.GetString(5),
            r.GetString(6),
            r.GetInt32(7),
            r.GetDouble(8),
            r.IsDBNull(9) ? null : r.GetDouble(9),
            notify,
            r.IsDBNull(13) ? null : r.GetString(13),
            r.IsDBNull(14) ? null : r.GetString(14),
            r.IsDBNull(15) ? null : r.GetString(15));
    }
}
