using Cybexp.Report.Core.Storage;
using Npgsql;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// The query queue in PostgreSQL. The claim is one <c>UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)</c>:
/// concurrent workers in any process each take a different row without waiting on each other. Enqueue and release
/// NOTIFY the store's work channel, completion its end channel; waiters listen through the store's listener and also
/// wake on this instance's own writes.
/// </summary>
internal sealed class PostgresQueryStore(PostgresStore store) : IQueryStore
{
    private const string Columns = "id, qtype, qdata, encrypted, userid, qhash, status, attempts, submitted, finished, notify_host, notify_port, notify_nonce, report_hash, report, error, lease_token, lease_expires";

    public Task<long> EnqueueAsync(QuerySubmission submission, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            // The notification is delivered when the insert commits, so a woken worker finds the row.
            await using var cmd = new NpgsqlCommand(
                "WITH q AS (INSERT INTO queries (qtype, qdata, encrypted, userid, qhash, status, submitted, notify_host, notify_port, notify_nonce) " +
                "VALUES ($1, $2, $3, $4, $5, 'wait', $6, $7, $8, $9) RETURNING id) " +
                "SELECT id, pg_notify($10, id::text) FROM q;",
                conn);
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
            var id = (long)(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            store.Enqueued.Set();
            return id;
        },
        cancellationToken);

    public Task<QueryClaim?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            var now = store.Time.NowSeconds();
            // One statement: the sub-select locks the oldest claimable row, skipping rows other workers hold.
            await using var cmd = new NpgsqlCommand(
                "UPDATE queries SET status = 'processing', attempts = attempts + 1, claims = claims + 1, lease_token = $1 || '#' || id || '#' || (claims + 1), lease_expires = $2 " +
                "WHERE id = (SELECT id FROM queries WHERE status = 'wait' OR (status = 'processing' AND lease_expires < $3) " +
                "ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) " +
                $"RETURNING {Columns};",
                conn);
            cmd.Parameters.AddWithValue(workerId);
            cmd.Parameters.AddWithValue(now + lease.TotalSeconds);
            cmd.Parameters.AddWithValue(now);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            var record = Read(r);
            return new QueryClaim(record.Id, r.GetString(16), record.Attempts, r.GetDouble(17), record);
        },
        cancellationToken);

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

    public Task<bool> CompleteAsync(QueryClaim claim, QueryOutcome outcome, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            // Fenced on the lease token: a worker that lost its claim writes nothing and notifies no one.
            await using var cmd = new NpgsqlCommand(
                "WITH u AS (UPDATE queries SET status = $1, report = $2, report_hash = $3, error = $4, finished = $5, lease_token = NULL, lease_expires = NULL " +
                "WHERE id = $6 AND lease_token = $7 AND status = 'processing' RETURNING id) " +
                "SELECT id, pg_notify($8, id::text) FROM u;",
                conn);
            cmd.Parameters.AddWithValue(outcome.Status);
            cmd.Parameters.AddWithValue(outcome.ReportJson);
            cmd.Parameters.AddWithValue(outcome.ReportHash.Value);
            cmd.Parameters.Add(Text(outcome.Error));
            cmd.Parameters.AddWithValue(store.Time.NowSeconds());
            cmd.Parameters.AddWithValue(claim.QueryId);
            cmd.Parameters.AddWithValue(claim.LeaseToken);
            cmd.Parameters.AddWithValue(store.EndChannel);
            var done = await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null;
            if (done)
            {
                store.Ended.Set();
            }

            return done;
        },
        cancellationToken);

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
        async conn =>
        {
            await using var cmd = new NpgsqlCommand($"SELECT {Columns} FROM queries WHERE userid = $1 AND qhash = $2 AND qtype = $3 AND submitted >= $4 ORDER BY id DESC LIMIT 1;", conn);
            cmd.Parameters.AddWithValue(userId);
            cmd.Parameters.AddWithValue(qhash);
            cmd.Parameters.AddWithValue(qtype);
            cmd.Parameters.AddWithValue(since);
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(r) : null;
        },
        cancellationToken);

    public Task<bool> RequeueAsync(long id, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand(
                "WITH u AS (UPDATE queries SET status = 'wait', attempts = 0, report = NULL, report_hash = NULL, error = NULL, finished = NULL " +
                "WHERE id = $1 AND status IN ('ready', 'failed', 'wait') RETURNING id) " +
                "SELECT id, pg_notify($2, id::text) FROM u;",
                conn);
            cmd.Parameters.AddWithValue(id);
            cmd.Parameters.AddWithValue(store.WorkChannel);
            var requeued = await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null;
            if (requeued)
            {
                store.Enqueued.Set();
            }

            return requeued;
        },
        cancellationToken);

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

    public Task WaitForWorkAsync(TimeSpan pollInterval, CancellationToken cancellationToken)
    {
        // Take the signal before starting the listener: its first LISTEN wakes this waiter, so an enqueue made before
        // the listener was up costs a re-check, not a poll interval.
        var wait = store.Enqueued.WaitAsync(pollInterval, store.Time, cancellationToken);
        store.Listener.EnsureStarted();
        return wait;
    }

    public async Task<QueryRecord?> WaitForEndAsync(long id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = store.Time.GetUtcNow() + timeout;
        while (true)
        {
            // Take the signal before reading, so an end between the read and the wait is not missed.
            var wait = store.Ended.WaitAsync(TimeSpan.FromMilliseconds(250), store.Time, cancellationToken);
            store.Listener.EnsureStarted();
            var record = await GetAsync(id, cancellationToken).ConfigureAwait(false);
            var left = deadline - store.Time.GetUtcNow();
            if (record is null || record.Status is QueryStatus.Ready or QueryStatus.Failed || left <= TimeSpan.Zero)
            {
                return record;
            }

            await wait.ConfigureAwait(false);
        }
    }

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
