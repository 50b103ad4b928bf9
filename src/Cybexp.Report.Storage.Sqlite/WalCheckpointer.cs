using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Sqlite;

/// <summary>
/// Copies what ingest transactions commit to the WAL into the database file (a checkpoint) on a connection and thread of
/// its own, so that the one writer SQLite allows goes on writing meanwhile.
/// </summary>
/// <remarks>
/// <para>
/// An ingest writes every page twice: to the WAL at commit and to the database file at the checkpoint. Run by the
/// committing connection (SQLite's automatic checkpoint), the commits of a 1M-event ingest took 4.6 s of the writer's
/// 22.6 s of CPU; with the checkpoint here, 1.5 s. A passive checkpoint needs no lock a writer holds, so it runs beside
/// the next transaction, on another core.
/// </para>
/// <para>
/// The WAL starts over from its beginning only when a write transaction begins after every frame was copied; while
/// checkpoints run beside the writer, that seldom happens by itself and the WAL would grow by every transaction. So
/// once it holds more than <see cref="RestartBytes"/>, <see cref="BeforeWriteAsync"/> waits for the checkpoint to
/// finish (and copies what it left) before the next transaction begins: the WAL file stays within about that size
/// plus one transaction.
/// </para>
/// <para>
/// A checkpoint copies only what no reader still needs, and a failed one loses nothing (the frames stay in the WAL,
/// and the next checkpoint copies them), so failures here are not reported: the writer's own statements report a
/// store that went away.
/// </para>
/// </remarks>
internal sealed class WalCheckpointer(SqliteStore store)
{
    /// <summary>The default of <see cref="RestartBytes"/>.</summary>
    public const long DefaultRestartBytes = 512L << 20;

    private readonly Lock _gate = new();
    private Task _running = Task.CompletedTask;
    private bool _again;

    /// <summary>The WAL size above which the next write transaction waits for a complete checkpoint.</summary>
    public long RestartBytes { get; set; } = DefaultRestartBytes;

    /// <summary>
    /// Frames in the WAL, as far as this object knows: the frames archive writes wrote since the WAL last started over,
    /// or fewer when a checkpoint found fewer (the WAL started over by itself). Counted by the writers rather than
    /// only read by checkpoints, so that it grows even while no checkpoint gets a thread.
    /// </summary>
    private long _walFrames;

    /// <summary>
    /// A write transaction committed, after writing <paramref name="frames"/> pages to the WAL: checkpoint in the
    /// background (again, when one is running).
    /// </summary>
    public void Committed(long frames)
    {
        Interlocked.Add(ref _walFrames, frames);
        lock (_gate)
        {
            if (_running.IsCompleted)
            {
                _running = OnBackgroundThread(RunAsync);
            }
            else
            {
                _again = true;
            }
        }
    }

    /// <summary>
    /// Before a write transaction begins: when the WAL has grown over <see cref="RestartBytes"/>, waits until all of it
    /// is in the database file, so that the transaction writes the WAL from its beginning again.
    /// </summary>
    public async Task BeforeWriteAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Read(ref _walFrames) * store.FilePageSize <= RestartBytes)
        {
            return;
        }

        await WhenIdleAsync(cancellationToken).ConfigureAwait(false);
        await CheckpointAsync(cancellationToken).ConfigureAwait(false);

        // The transaction about to begin starts the WAL over (unless a reader still needs its end): do not wait again
        // before the next checkpoint has looked.
        Interlocked.Exchange(ref _walFrames, 0);
    }

    /// <summary>Completes when no checkpoint of this object is running.</summary>
    public async Task WhenIdleAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task running;
            lock (_gate)
            {
                running = _running;
            }

            if (running.IsCompleted)
            {
                return;
            }

            await running.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a thread of its own at a lower scheduling priority (Linux: nice 10): while an
    /// ingest's parse stage and writer keep both cores busy, the checkpoint takes what they leave, mostly while the
    /// writer finishes a transaction and the parse stage waits. (It gets time regardless, and a write that must wait
    /// for it, <see cref="BeforeWriteAsync"/>, leaves it the core.)
    /// </summary>
    private static Task OnBackgroundThread(Func<Task> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            LowerThisThreadsPriority();
            try
            {
                // The connection's async methods complete synchronously (Microsoft.Data.Sqlite), so the work stays here.
                work().GetAwaiter().GetResult();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "WAL checkpoint",
        };
        thread.Start();
        return done.Task;
    }

    private static void LowerThisThreadsPriority()
    {
        if (OperatingSystem.IsLinux())
        {
            // PRIO_PROCESS with a thread id sets that thread's nice value on Linux; lowering it needs no privilege.
            _ = Native.setpriority(0, Native.gettid(), 10);
        }
    }

    private static class Native
    {
        [System.Runtime.InteropServices.DllImport("libc", ExactSpelling = true)]
        public static extern int setpriority(int which, int who, int prio);

        [System.Runtime.InteropServices.DllImport("libc", ExactSpelling = true)]
        public static extern int gettid();
    }

    private async Task RunAsync()
    {
        while (true)
        {
            await CheckpointAsync(CancellationToken.None).ConfigureAwait(false);
            lock (_gate)
            {
                if (!_again)
                {
                    return;
                }

                _again = false;
            }
        }
    }

    private async Task CheckpointAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = await store.OpenConnectionAsync(cancellationToken, pooled: false).ConfigureAwait(false);
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);

            // (busy, frames in the WAL, frames copied); -1 frames when the file is not in WAL mode.
            if (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var frames = r.GetInt64(1);
                long known;
                while (frames < (known = Interlocked.Read(ref _walFrames)) && Interlocked.CompareExchange(ref _walFrames, frames, known) != known)
                {
                }
            }
        }
        catch (SqliteException)
        {
            // Nothing is lost: the frames stay in the WAL for the next checkpoint (see the remarks).
        }
    }
}
