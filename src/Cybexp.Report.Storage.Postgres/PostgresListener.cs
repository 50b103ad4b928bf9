using Npgsql;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// One dedicated connection per store that LISTENs on the store's work and end channels and turns notifications from
/// any process into the store's in-process signals. Started on the first wait; reconnects when the connection drops.
/// After every (re)connect it wakes all waiters once, since a notification sent while it was not listening is lost.
/// </summary>
internal sealed class PostgresListener(string connectionString, PostgresStore store) : IAsyncDisposable
{
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan IdleCheck = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _stop = new();
    private int _started;
    private Task _loop = Task.CompletedTask;

    /// <summary>Starts listening unless already started.</summary>
    public void EnsureStarted()
    {
        if (Interlocked.CompareExchange(ref _started, 1, 0) == 0)
        {
            _loop = Task.Run(() => RunAsync(_stop.Token));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (PostgresStore.IsUnavailable(e))
            {
                // The server went away or refuses connections: waiters fall back on their poll interval until the
                // connection is back.
            }

            try
            {
                await Task.Delay(ReconnectDelay, store.Time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ListenAsync(CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        conn.Notification += (_, e) =>
        {
            if (e.Channel == store.WorkChannel)
            {
                store.Enqueued.Set();
            }
            else if (e.Channel == store.EndChannel)
            {
                store.Ended.Set();
            }
        };
        await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
        await PostgresStore.ExecAsync(conn, null, $"LISTEN \"{store.WorkChannel}\"; LISTEN \"{store.EndChannel}\";", cancellationToken).ConfigureAwait(false);
        store.Enqueued.Set();
        store.Ended.Set();
        while (true)
        {
            if (!await conn.WaitAsync(IdleCheck, cancellationToken).ConfigureAwait(false))
            {
                // Nothing arrived for a while: prove the connection still works, or fail and reconnect.
                await PostgresStore.ExecAsync(conn, null, "SELECT 1;", cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
