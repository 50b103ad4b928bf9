namespace Cybexp.Report.Core.Storage;

/// <summary>
/// A broadcast wake-up: <see cref="Set"/> completes every pending <see cref="WaitAsync"/>. Waiters also return after
/// their timeout or on cancellation, so a missed signal costs at most one poll interval.
/// </summary>
public sealed class AsyncSignal
{
    private TaskCompletionSource _current = NewSource();

    /// <summary>Wakes every current waiter.</summary>
    public void Set() => Interlocked.Exchange(ref _current, NewSource()).TrySetResult();

    /// <summary>Waits for the next <see cref="Set"/>, <paramref name="timeout"/>, or cancellation (which throws).</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var signal = Volatile.Read(ref _current).Task;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, time, cts.Token);
        await Task.WhenAny(signal, delay).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
