using System.Collections.Concurrent;
using System.Globalization;
using Cybexp.Report.Core.Storage;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Sqlite;

/// <summary>
/// The query queue in SQLite. SQLite serialises writers, so one <c>UPDATE … WHERE id = (SELECT …) RETURNING</c> is an
/// atomic claim. Idle waiters in this process are woken by an in-process signal per database file; other processes
/// poll.
/// </summary>
internal sealed class SqliteQueryStore(SqliteStore store) : IQueryStore
{
    private const string Columns = "id, qtype, qdata, encrypted, userid, qhash, status, attempts, submitted, finished, notify_host, notify_port, notify_nonce, report_hash, report, error, lease_token, lease_expires";

    private static readonly ConcurrentDictionary<string, (AsyncSignal Enqueued, AsyncSignal Ended)> Signals = new(StringComparer.Ordinal);

    private (AsyncSignal Enqueued, AsyncSignal Ended) Signal => Signals.GetOrAdd(store.FilePath, _ => (new AsyncSignal(), new AsyncSignal()));

    public async Task<long> EnqueueAsync(QuerySubmission submission, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var id = await InsertAsync(conn, null, submission, cancellationToken).ConfigureAwait(false);
        Signal.Enqueued.Set();
        return id;
    }

    public async Task<RecentSubmission> SubmitOnceAsync(QuerySubmission submission, double since, bool redo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var qhash = submission.QHash ?? throw new ArgumentException("a query without qhash (encrypted) cannot be de-duplicated", nameof(submission));
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

        // BEGIN IMMEDIATE takes the database's write lock before looking: a second process deciding about the same
        // query waits here (busy timeout), then finds the query this one stored.
        RecentSubmission result;
        await using (var tx = conn.BeginTransaction(deferred: false))
        {
            result = await RecentSubmission.DecideAsync(
                () => FindAsync(conn, tx, submission.UserId, submission.QType, qhash, since, cancellationToken),
                () => InsertAsync(conn, tx, submission, cancellationToken),
                id => RequeueOnAsync(conn, tx, id, cancellationToken),
                redo).ConfigureAwait(false);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        if (result.Queued)
        {
            Signal.Enqueued.Set();
        }

        return result;
    }

    private async Task<long> InsertAsync(SqliteConnection conn, SqliteTransaction? tx, QuerySubmission submission, CancellationToken cancellationToken)
    {
        await using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO queries (qtype, qdata, encrypted, userid, qhash, status, submitted, notify_host, notify_port, notify_nonce) " +
                          "VALUES ($qtype, $qdata, $enc, $user, $qhash, 'wait', $now, $host, $port, $nonce) RETURNING id;";
        cmd.Parameters.AddWithValue("$qtype", submission.QType);
        cmd.Parameters.AddWithValue("$qdata", submission.QData);
        cmd.Parameters.AddWithValue("$enc", submission.Encrypted ? 1 : 0);
        cmd.Parameters.AddWithValue("$user", submission.UserId);
        cmd.Parameters.AddWithValue("$qhash", (object?)submission.QHash ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$now", store.Time.NowSeconds());
        cmd.Parameters.AddWithValue("$host", (object?)submission.Notify?.Host ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$port", (object?)submission.Notify?.Port ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$nonce", (object?)submission.Notify?.Nonce ?? DBNull.Value);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    public async Task<QueryClaim?> ClaimNextAsync(string workerId, TimeSpan lease, CancellationToken cancellationToken)
    {
        var claims = await ClaimManyAsync(workerId, lease, 1, cancellationToken).ConfigureAwait(false);
        return claims.Count > 0 ? claims[0] : null;
    }

    public async Task<IReadOnlyList<QueryClaim>> ClaimManyAsync(string workerId, TimeSpan lease, int max, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var now = store.Time.NowSeconds();
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();

        // One statement (SQLite runs one writer at a time); the identity version is read in the same statement.
        cmd.CommandText =
            "UPDATE queries SET status = 'processing', attempts = attempts + 1, claims = claims + 1, lease_token = $worker || '#' || id || '#' || (claims + 1), lease_expires = $expires " +
            "WHERE id IN (SELECT id FROM queries WHERE status = 'wait' OR (status = 'processing' AND lease_expires < $now) ORDER BY id LIMIT $max) " +
            $"RETURNING {Columns}, (SELECT version FROM identity_version WHERE id = 1);";
        cmd.Parameters.AddWithValue("$worker", workerId);
        cmd.Parameters.AddWithValue("$expires", now + lease.TotalSeconds);
        cmd.Parameters.AddWithValue("$now", now);
        cmd.Parameters.AddWithValue("$max", max);
        var claims = new List<QueryClaim>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var record = Read(r);
            claims.Add(new QueryClaim(record.Id, r.GetString(16), record.Attempts, r.GetDouble(17), record) { IdentityVersion = r.GetInt64(18) });
        }

        // RETURNING follows no order: hand the claims out oldest first.
        claims.Sort((a, b) => a.QueryId.CompareTo(b.QueryId));
        return claims;
    }

    public async Task<bool> RenewAsync(QueryClaim claim, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "UPDATE queries SET lease_expires = $expires WHERE id = $id AND lease_token = $token AND status = 'processing';";
        cmd.Parameters.AddWithValue("$expires", store.Time.NowSeconds() + lease.TotalSeconds);
        cmd.Parameters.AddWithValue("$id", claim.QueryId);
        cmd.Parameters.AddWithValue("$token", claim.LeaseToken);
        return await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    public async Task<bool> CompleteAsync(QueryClaim claim, QueryOutcome outcome, CancellationToken cancellationToken)
    {
        var done = await CompleteManyAsync([new QueryCompletion(claim, outcome)], cancellationToken).ConfigureAwait(false);
        return done[0];
    }

    public async Task<IReadOnlyList<bool>> CompleteManyAsync(IReadOnlyList<QueryCompletion> completions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completions);
        var done = new bool[completions.Count];
        if (completions.Count == 0)
        {
            return done;
        }

        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

        // One transaction for all: one commit instead of one per report. Each row is fenced on its own lease token, so
        // a worker that lost a claim writes nothing for it.
        await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "UPDATE queries SET status = $status, report = $report, report_hash = $rh, error = $error, finished = $now, lease_token = NULL, lease_expires = NULL " +
                          "WHERE id = $id AND lease_token = $token AND status = 'processing';";
        var status = cmd.Parameters.Add("$status", SqliteType.Text);
        var report = cmd.Parameters.Add("$report", SqliteType.Text);
        var reportHash = cmd.Parameters.Add("$rh", SqliteType.Text);
        var error = cmd.Parameters.Add("$error", SqliteType.Text);
        cmd.Parameters.AddWithValue("$now", store.Time.NowSeconds());
        var id = cmd.Parameters.Add("$id", SqliteType.Integer);
        var token = cmd.Parameters.Add("$token", SqliteType.Text);
        for (var i = 0; i < completions.Count; i++)
        {
            var (claim, outcome) = completions[i];
            status.Value = outcome.Status;
            report.Value = outcome.ReportJson;
            reportHash.Value = outcome.ReportHash.Value;
            error.Value = (object?)outcome.Error ?? DBNull.Value;
            id.Value = claim.QueryId;
            token.Value = claim.LeaseToken;
            done[i] = await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (done.Any(d => d))
        {
            Signal.Ended.Set();
        }

        return done;
    }

    public async Task<bool> ReleaseAsync(QueryClaim claim, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "UPDATE queries SET status = 'wait', attempts = attempts - 1, lease_token = NULL, lease_expires = NULL WHERE id = $id AND lease_token = $token AND status = 'processing';";
        cmd.Parameters.AddWithValue("$id", claim.QueryId);
        cmd.Parameters.AddWithValue("$token", claim.LeaseToken);
        var released = await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        if (released)
        {
            Signal.Enqueued.Set();
        }

        return released;
    }

    public async Task<QueryRecord?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT {Columns} FROM queries WHERE id = $id;";
        cmd.Parameters.AddWithValue("$id", id);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(r) : null;
    }

    public async Task<QueryRecord?> FindRecentAsync(string userId, string qtype, string qhash, double since, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await FindAsync(conn, null, userId, qtype, qhash, since, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RequeueAsync(long id, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var requeued = await RequeueOnAsync(conn, null, id, cancellationToken).ConfigureAwait(false);
        if (requeued)
        {
            Signal.Enqueued.Set();
        }

        return requeued;
    }

    private static async Task<QueryRecord?> FindAsync(SqliteConnection conn, SqliteTransaction? tx, string userId, string qtype, string qhash, double since, CancellationToken cancellationToken)
    {
        await using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"SELECT {Columns} FROM queries WHERE userid = $u AND qhash = $h AND qtype = $t AND submitted >= $since ORDER BY id DESC LIMIT 1;";
        cmd.Parameters.AddWithValue("$u", userId);
        cmd.Parameters.AddWithValue("$h", qhash);
        cmd.Parameters.AddWithValue("$t", qtype);
        cmd.Parameters.AddWithValue("$since", since);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await r.ReadAsync(cancellationToken).ConfigureAwait(false) ? Read(r) : null;
    }

    private static async Task<bool> RequeueOnAsync(SqliteConnection conn, SqliteTransaction? tx, long id, CancellationToken cancellationToken)
    {
        await using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "UPDATE queries SET status = 'wait', attempts = 0, report = NULL, report_hash = NULL, error = NULL, finished = NULL WHERE id = $id AND status IN ('ready', 'failed', 'wait');";
        cmd.Parameters.AddWithValue("$id", id);
        return await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    public async Task<IReadOnlyDictionary<string, long>> CountByStatusAsync(CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT status, count(*) FROM queries GROUP BY status ORDER BY status;";
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result[r.GetString(0)] = r.GetInt64(1);
        }

        return result;
    }

    public async Task HeartbeatAsync(string workerId, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "INSERT INTO workers (id, last_seen) VALUES ($id, $now) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen;";
        cmd.Parameters.AddWithValue("$id", workerId);
        cmd.Parameters.AddWithValue("$now", store.Time.NowSeconds());
        await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task RetireWorkerAsync(string workerId, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "DELETE FROM workers WHERE id = $id;";
        cmd.Parameters.AddWithValue("$id", workerId);
        await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<int> CountLiveWorkersAsync(double since, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM workers WHERE last_seen >= $since;";
        cmd.Parameters.AddWithValue("$since", since);
        return Convert.ToInt32(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    public long WorkSignals => Signal.Enqueued.Count;

    public Task WaitForWorkAsync(long seen, TimeSpan pollInterval, CancellationToken cancellationToken) =>
        Signal.Enqueued.WaitAsync(seen, pollInterval, store.Time, cancellationToken);

    public async Task<QueryRecord?> WaitForEndAsync(long id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = store.Time.GetUtcNow() + timeout;
        while (true)
        {
            // Take the signal before reading, so an end between the read and the wait is not missed.
            var wait = Signal.Ended.WaitAsync(TimeSpan.FromMilliseconds(250), store.Time, cancellationToken);
            var record = await GetAsync(id, cancellationToken).ConfigureAwait(false);
            var left = deadline - store.Time.GetUtcNow();
            if (record is null || record.Status is QueryStatus.Ready or QueryStatus.Failed || left <= TimeSpan.Zero)
            {
                return record;
            }

            await wait.ConfigureAwait(false);
        }
    }

    private static QueryRecord Read(SqliteDataReader r)
    {
        NotifySocket? notify = r.IsDBNull(10) ? null : new NotifySocket(r.GetString(10), r.GetInt32(11), r.GetString(12));
        return new QueryRecord(
            r.GetInt64(0),
            r.GetString(1),
            r.GetString(2),
            r.GetInt64(3) != 0,
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
