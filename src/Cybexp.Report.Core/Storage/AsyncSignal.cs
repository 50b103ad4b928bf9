namespace Cybexp.Report.Core.Storage;

/// <summary>
/// A broadcast wake-up: <see cref="Set"/> completes every pending <see cref="WaitAsync(TimeSpan, TimeProvider, CancellationToken)"/>.
/// Waiters also return after their timeout or on cancellation, so a missed signal costs at most one poll interval.
/// A waiter that read <see cref="Count"/> earlier (before looking for work, say) and waits with it is not missed
/// by a signal that came in between: it returns at once.
/// </summary>
public sealed class AsyncSignal
{
    private TaskCompletionSource _current = NewSource();
    private long _count;

    /// <summary>How many times <see cref="Set"/> was called.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Wakes every current waiter.</summary>
    public void Set()
    {
        // Counted before the waiters are woken: a waiter that took the current source and then finds the count
        // unchanged is woken by this call's completion of that source (or of a later one).
        Interlocked.Increment(ref _count);
        Interlocked.Exchange(ref _current, NewSource()).TrySetResult();
    }

    /// <summary>Waits for the next <see cref="Set"/>, <paramref name="timeout"/>, or cancellation (which throws).</summary>
    public Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken) =>
        WaitAsync(Count, timeout, time, cancellationToken);

    /// <summary>
    /// Returns at once when <see cref="Set"/> was called since <see cref="Count"/> was <paramref name="seen"/>; else
    /// waits for the next <see cref="Set"/>, <paramref name="timeout"/>, or cancellation (which throws).
    /// </summary>
    public async Task WaitAsync(long seen, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var signal = Volatile.Read(ref _current).Task;
        if (Count != seen)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, time, cts.Token);
        await Task.WhenAny(signal, delay).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
