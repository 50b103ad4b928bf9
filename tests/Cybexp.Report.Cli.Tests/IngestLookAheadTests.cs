using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Ingest;
using Cybexp.Report.Storage.Sqlite;

namespace Cybexp.Report.Cli.Tests;

/// <summary>
/// How far an ingest reads ahead of a writer that is busy committing: far enough that the parse stage goes on while a
/// store commits on the writer's thread, and never further than a fixed number of chunks, whatever the input's size.
/// </summary>
public sealed class IngestLookAheadTests : IDisposable
{
    /// <summary>Records per chunk of parallel work (ArchiveIngestor).</summary>
    private const int ChunkSize = 256;

    private const int Batch = 500;

    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-ingest-lookahead-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// The first commit is held until the records read stop growing. A store with one commit in flight (it commits on
    /// the writer's thread, like SQLite) gets four chunks per core checked ahead; one with two (PostgreSQL) two chunks
    /// per core, and the ingest fills its second transaction before it waits.
    /// </summary>
    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 2)]
    public async Task Ingest_WhileACommitIsHeld_ReadsAheadABoundedNumberOfChunks_ThenStoresEverything(int commitsInFlight, int chunksAheadPerCore)
    {
        var ahead = chunksAheadPerCore * Environment.ProcessorCount;
        var taken = commitsInFlight * Batch;

        // More documents than the held transactions and the look-ahead take, so that the reader has to stop.
        var documents = await GeneratedDocumentsAsync(minimum: taken + ((ahead + 4) * ChunkSize));
        await using var store = await SqliteStore.OpenAsync(Path.Combine(_dir, "s.db"), TimeProvider.System, Ct);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = HeldArchive.Over(store.Archive, commitsInFlight, gate.Task);
        var read = 0;

        async IAsyncEnumerable<TahoeDocumentRecord> Counted()
        {
            await foreach (var record in TahoeDocumentRecords.From(documents).WithCancellation(Ct))
            {
                Interlocked.Increment(ref read);
                yield return record;
            }
        }

        var ingest = new ArchiveIngestor((IArchiveStore)held, Batch).IngestAsync(Counted(), (_, _) => Task.CompletedTask, null, Ct);
        await held.FirstCommitCalled.WaitAsync(Ct);

        // Beyond the documents of the transactions taken: the rest of the chunk the writer is in, the chunks ahead, and
        // the one the reader holds until there is room.
        var (least, most) = (taken + ((ahead - 1) * ChunkSize), taken + ((ahead + 2) * ChunkSize));
        var readWhileHeld = await SettledAsync(() => Volatile.Read(ref read), least);
        Assert.InRange(readWhileHeld, least, most);
        Assert.False(ingest.IsCompleted);

        gate.SetResult();
        var summary = await ingest;
        Assert.Equal(documents.Count, summary.Inserted);
        Assert.Equal(documents.Count, (await store.Archive.CountByItypeAsync(Ct)).Values.Sum());
    }

    /// <summary>
    /// Polls <paramref name="value"/> until it has stopped growing: unchanged for a second once it is at least
    /// <paramref name="expected"/>, for ten seconds below that (a loaded machine may pause the reader for a while).
    /// </summary>
    private static async Task<int> SettledAsync(Func<int> value, int expected)
    {
        var last = value();
        var changed = DateTime.UtcNow;
        var deadline = changed.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(250, Ct);
            var now = value();
            if (now != last)
            {
                (last, changed) = (now, DateTime.UtcNow);
            }
            else if (DateTime.UtcNow - changed >= TimeSpan.FromSeconds(now >= expected ? 1 : 10))
            {
                return now;
            }
        }

        throw new TimeoutException($"the records read kept growing: {last}");
    }

    private static async Task<List<TahoeDict>> GeneratedDocumentsAsync(int minimum)
    {
        // At least one document per generated event (about 1.3).
        var lines = await IngestPipelineTests.GeneratedLinesAsync(Math.Max(1000, minimum), seed: 9);
        var documents = lines.Select(l => PythonJson.Parse(l).AsDict).ToList();
        Assert.True(documents.Count >= minimum, $"{documents.Count} documents");
        return documents;
    }
}

/// <summary>
/// A real archive store seen through a proxy whose write sequence commits through the store's own batch write, one
/// write after the other, up to <c>commitsInFlight</c> called at a time, and holds the first commit until a gate opens
/// (everything else goes to the store as is).
/// </summary>
public class HeldArchive : System.Reflection.DispatchProxy
{
    private readonly TaskCompletionSource _firstCommitCalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IArchiveStore _inner = null!;
    private int _commitsInFlight;
    private Task _gate = Task.CompletedTask;

    /// <summary>Completes when the ingest has called the first commit.</summary>
    public Task FirstCommitCalled => _firstCommitCalled.Task;

    public static HeldArchive Over(IArchiveStore inner, int commitsInFlight, Task gate)
    {
        var proxy = Create<IArchiveStore, HeldArchive>();
        var held = (HeldArchive)(object)proxy;
        (held._inner, held._commitsInFlight, held._gate) = (inner, commitsInFlight, gate);
        return held;
    }

    protected override object? Invoke(System.Reflection.MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        return targetMethod.Name == nameof(IArchiveStore.BeginWriteSequence) ? new Sequence(this) : targetMethod.Invoke(_inner, args);
    }

    private sealed class Sequence(HeldArchive owner) : IArchiveWriteSequence
    {
        private Task _previous = Task.CompletedTask;

        private HeldArchive Owner => owner;

        public int CommitsInFlight => owner._commitsInFlight;

        public Task<IArchiveWrite> BeginWriteAsync(CancellationToken cancellationToken) => Task.FromResult<IArchiveWrite>(new Write(this));

        private sealed class Write(Sequence sequence) : IArchiveWrite
        {
            private readonly List<ArchiveDocument> _documents = [];

            public Task AddAsync(IReadOnlyList<ArchiveDocument> documents, CancellationToken cancellationToken)
            {
                _documents.AddRange(documents);
                return Task.CompletedTask;
            }

            public Task<WriteSummary> CommitAsync(CancellationToken cancellationToken)
            {
                var previous = sequence._previous;
                var commit = CommitAfterAsync(previous, cancellationToken);
                sequence._previous = commit;
                sequence.Owner._firstCommitCalled.TrySetResult();
                return commit;
            }

            public bool WorkWhileIdle() => false;

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;

            private async Task<WriteSummary> CommitAfterAsync(Task previous, CancellationToken cancellationToken)
            {
                await previous.ConfigureAwait(false);
                await sequence.Owner._gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                return await sequence.Owner._inner.WriteAsync(_documents, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
