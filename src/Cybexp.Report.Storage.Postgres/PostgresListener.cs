using Npgsql;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// One dedicated connection per store that LISTENs on the channels this process waits on (the work channel while a
/// worker waits for work, the end channel once someone waits for a query's end) and turns notifications from any
/// process into the store's in-process signals. A worker process thus never receives the end notifications it has no
/// use for, and a busy one stops receiving work notifications: when one arrives and no worker has waited for work for
/// <see cref="DropWorkAfter"/>, the listener UNLISTENs the work channel until a worker waits again. Started on the
/// first wait; reconnects when the connection drops or a channel is added. After every (re)connect it wakes the
/// waiters of its channels once, since a notification sent while it was not listening is lost.
/// </summary>
internal sealed class PostgresListener(string connectionString, PostgresStore store) : IAsyncDisposable
{
    private const int Work = 1;
    private const int End = 2;
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan IdleCheck = TimeSpan.FromSeconds(30);

    /// <summary>How long no worker of this process may have waited for work before the work channel is dropped.</summary>
    internal static readonly TimeSpan DropWorkAfter = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private int _wanted;
    private int _started;
    private int _workWaiters;
    private long _lastWorkWait;
    private Task _loop = Task.CompletedTask;

    // Cancelled to make the loop reconnect with the channels wanted now.
    private CancellationTokenSource _reconnect = new();

    /// <summary>Listens on the work and/or end channel from now on (starting the listener unless already started).</summary>
    public void EnsureListening(bool work, bool end)
    {
        var add = (work ? Work : 0) | (end ? End : 0);
        if ((Interlocked.Or(ref _wanted, add) & add) == add)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _started, 1, 0) == 0)
        {
            _loop = Task.Run(() => RunAsync(_stop.Token));
            return;
        }

        lock (_gate)
        {
            _reconnect.Cancel();
        }
    }

    /// <summary>
    /// Registers a waiter for work (listening on the work channel from now on) until the returned handle is disposed.
    /// While no worker waits, a work notification may drop the work channel; the next waiter adds it back, and the
    /// LISTEN that follows wakes it once, so nothing enqueued in between is missed.
    /// </summary>
    public IDisposable WaitingForWork()
    {
        // Counted before the channel is asked for: a listener that drops the channel meanwhile either sees this
        // waiter and keeps it, or EnsureListening finds it gone and adds it back (see MaybeDropWork).
        Interlocked.Increment(ref _workWaiters);
        EnsureListening(work: true, end: false);
        return new WorkWait(this);
    }

    private sealed class WorkWait(PostgresListener listener) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                listener.LeftWorkWait();
            }
        }
    }

    private void LeftWorkWait()
    {
        Volatile.Write(ref _lastWorkWait, store.Time.GetTimestamp());
        Interlocked.Decrement(ref _workWaiters);
    }

    /// <summary>On a work notification: stop listening for work when no worker of this process waited for a while.</summary>
    private void MaybeDropWork()
    {
        if (Volatile.Read(ref _workWaiters) > 0 || store.Time.GetElapsedTime(Volatile.Read(ref _lastWorkWait)) < DropWorkAfter)
        {
            return;
        }

        Interlocked.And(ref _wanted, ~Work);
        if (Volatile.Read(ref _workWaiters) > 0)
        {
            // A waiter arrived in between: keep the channel (if it already found the channel dropped, it asked for a
            // reconnect, which listens again).
            Interlocked.Or(ref _wanted, Work);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
        _reconnect.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            // The token first, then the channels: a channel added in between cancels this token.
            CancellationTokenSource reconnect;
            lock (_gate)
            {
                if (_reconnect.IsCancellationRequested)
                {
                    _reconnect.Dispose();
                    _reconnect = new CancellationTokenSource();
                }

                reconnect = _reconnect;
            }

            var channels = Volatile.Read(ref _wanted);
            using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, reconnect.Token);
            try
            {
                await ListenAsync(channels, both.Token).ConfigureAwait(false);
                continue;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (OperationCanceledException) when (reconnect.IsCancellationRequested)
            {
                // Another channel is wanted: listen again on a new connection at once.
                continue;
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

    private async Task ListenAsync(int channels, CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        conn.Notification += (_, e) =>
        {
            if (e.Channel == store.WorkChannel)
            {
                store.Enqueued.Set();
                MaybeDropWork();
            }
            else if (e.Channel == store.EndChannel)
            {
                store.Ended.Set();
            }
        };
        await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
        var listen = ((channels & Work) != 0 ? $"LISTEN \"{store.WorkChannel}\"; " : string.Empty) +
                     ((channels & End) != 0 ? $"LISTEN \"{store.EndChannel}\";" : string.Empty);
        if (listen.Length > 0)
        {
            await PostgresStore.ExecAsync(conn, null, listen, cancellationToken).ConfigureAwait(false);
        }

        if ((channels & Work) != 0)
        {
            store.Enqueued.Set();
        }

        if ((channels & End) != 0)
        {
            store.Ended.Set();
        }

        while (true)
        {
            if (!await conn.WaitAsync(IdleCheck, cancellationToken).ConfigureAwait(false))
            {
                // Nothing arrived for a while: prove the connection still works, or fail and reconnect.
                await PostgresStore.ExecAsync(conn, null, "SELECT 1;", cancellationToken).ConfigureAwait(false);
            }

            var wanted = Volatile.Read(ref _wanted);
            if ((wanted & ~channels) != 0)
            {
                // A channel was added (its token normally interrupts the wait first): listen again on a new connection.
                return;
            }

            if ((channels & Work) != 0 && (wanted & Work) == 0)
            {
                // No worker waits: busy workers have no use for work notifications. If a waiter comes meanwhile, it
                // adds the channel back and cancels this connection's token (here or in the next wait).
                await PostgresStore.ExecAsync(conn, null, $"UNLISTEN \"{store.WorkChannel}\";", cancellationToken).ConfigureAwait(false);
                channels &= ~Work;
            }
        }
    }
}
