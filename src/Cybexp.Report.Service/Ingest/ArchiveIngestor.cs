using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Service.Ingest;

/// <summary>What one ingest did. <see cref="DanglingReferences"/> counts references to documents the archive lacks, after the ingest.</summary>
public sealed record IngestSummary(long Read, long Inserted, long Duplicates, long Updated, long Rejected, long DanglingReferences);

/// <summary>A document that was not stored, and why.</summary>
public sealed record IngestReject(long Line, string Reason, TahoeDict? Document)
{
    /// <summary>0-based position of the record in the ingested stream (which input it came from, when there are several).</summary>
    public long Index { get; init; }
}

/// <summary>
/// Streams TAHOE documents into the archive in batched transactions (constant memory): every <c>_hash</c> is checked
/// against the content, rejects are handed to the caller with the reason (never silently dropped), a document that is
/// already stored counts as a duplicate, and one whose hash is stored with other content updates it. Re-running an
/// interrupted ingest stores nothing twice: each batch commits whole or not at all.
/// </summary>
/// <remarks>
/// A pipeline: the input is cut into chunks of records, each chunk is parsed, verified and serialised for the store
/// on the thread pool (several chunks at once, a bounded number ahead of the writer), and ONE writer takes the chunks
/// back in input order, so batches, "later content wins", reject order and line numbers are exactly those of a
/// sequential ingest. The writer commits its batches through one <see cref="IArchiveWriteSequence"/>: a store may
/// commit several at once (the writer fills the next batch meanwhile), with the result of committing them in order.
/// When the input fails, the records read before the failure are still checked and every batch they fill is written;
/// the partial last batch is not, as before.
/// </remarks>
public sealed class ArchiveIngestor(IArchiveStore archive, int? batchSize = null)
{
    /// <summary>Records per unit of parallel work.</summary>
    private const int ChunkSize = 256;

    /// <summary>
    /// Documents handed to the open transaction at a time (<see cref="IArchiveWrite.AddAsync"/>): a store that writes
    /// them at once holds no more than this many documents, however large the transaction.
    /// </summary>
    private const int DocumentsPerAdd = 2000;

    /// <summary>Documents per transaction: as given, else what the store prefers.</summary>
    private readonly int _batchSize = batchSize is { } given
        ? given >= 1 ? given : throw new ArgumentOutOfRangeException(nameof(batchSize), given, "at least 1 document per transaction")
        : archive.PreferredTransactionSize;

    /// <summary>
    /// How far the parse stage runs ahead of the writer: chunks ahead (checked, or being checked; this bounds the
    /// memory ahead of the writer), and of those, chunks checked at the same time.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A store whose commits run while the writer fills the next transaction (<see cref="IArchiveWriteSequence.CommitsInFlight"/>
    /// above 1, PostgreSQL) takes documents nearly all the time: two chunks per core ahead, all checked at once, and
    /// the next one too while the producer waits to hand it over.
    /// </para>
    /// <para>
    /// A store that commits on the writer's thread (SQLite) takes no documents while it commits, and the look-ahead must
    /// outlast that: four chunks per core ahead, one chunk per core and one more checked at once. With the PostgreSQL
    /// setting, the writer of a SQLite ingest of 1M events waited 3.3 s for chunks and the ingest took 17.4–17.7 s;
    /// with this one, 15.2–16.2 s at the same peak memory. Further ahead held more documents through garbage
    /// collections: with 16 and 32 chunks the peak grew by up to 40 MB, with 64 by 110 MB. The same setting for
    /// PostgreSQL, whose server shares the cores with the parse stage here, cost 1,100 events/s on average over four
    /// pairs of runs (bench/results/ingest.md).
    /// </para>
    /// </remarks>
    private static (int Ahead, int AtOnce) LookAhead(IArchiveWriteSequence sequence)
    {
        var cores = Environment.ProcessorCount;
        return sequence.CommitsInFlight > 1 ? (2 * cores, (2 * cores) + 1) : (4 * cores, cores + 1);
    }

    /// <summary>Ingests <paramref name="records"/>; <paramref name="onReject"/> receives each rejected document.</summary>
    public Task<IngestSummary> IngestAsync(
        IAsyncEnumerable<TahoeDocumentRecord> records,
        Func<IngestReject, CancellationToken, Task> onReject,
        IProgress<long>? progress,
        CancellationToken cancellationToken) =>
        RunAsync(records, static r => r, onReject, progress, cancellationToken);

    /// <summary>
    /// Ingests documents cut out by <see cref="TahoeDocumentReader.ReadTextsAsync(TextReader, CancellationToken)"/>:
    /// they are parsed on the parallel stage too.
    /// </summary>
    public Task<IngestSummary> IngestAsync(
        IAsyncEnumerable<TahoeDocumentText> texts,
        Func<IngestReject, CancellationToken, Task> onReject,
        IProgress<long>? progress,
        CancellationToken cancellationToken) =>
        RunAsync(texts, static t => t.Parse(), onReject, progress, cancellationToken);

    private async Task<IngestSummary> RunAsync<T>(
        IAsyncEnumerable<T> input,
        Func<T, TahoeDocumentRecord> parse,
        Func<IngestReject, CancellationToken, Task> onReject,
        IProgress<long>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(onReject);
        long read = 0, inserted = 0, duplicates = 0, updated = 0, rejected = 0;
        var toAdd = new List<ArchiveDocument>(Math.Min(DocumentsPerAdd, _batchSize));
        // The first 128 bits of each hash in the open transaction: a repeat commits the transaction first (so the later
        // content wins), and so, harmlessly, would the (astronomically unlikely) repeat of a prefix. 16 bytes per
        // document, where the hashes themselves would keep a 64-character string each alive until the commit.
        var inBatch = new HashSet<UInt128>();
        var sequence = archive.BeginWriteSequence();
        IArchiveWrite? write = null;

        // Commits still running, oldest first: the store applies them in this order (IArchiveWriteSequence), and their
        // summaries and the progress are taken in this order too.
        var committing = new Queue<(Task<WriteSummary> Commit, long Read)>();

        async Task AddPendingAsync()
        {
            if (toAdd.Count == 0)
            {
                return;
            }

            write ??= await sequence.BeginWriteAsync(cancellationToken).ConfigureAwait(false);
            await write.AddAsync(toAdd, cancellationToken).ConfigureAwait(false);
            toAdd.Clear();
        }

        async Task TakeOldestCommitAsync()
        {
            var (commit, readThen) = committing.Peek();
            var summary = await commit.ConfigureAwait(false);
            committing.Dequeue();
            inserted += summary.Inserted;
            duplicates += summary.Duplicates;
            updated += summary.Updated;
            progress?.Report(readThen);
        }

        async Task FlushAsync()
        {
            await AddPendingAsync().ConfigureAwait(false);
            if (write is null)
            {
                return;
            }

            // The commit is called now, so its place in the sequence is fixed; the next transaction fills meanwhile.
            committing.Enqueue((CommitAndDisposeAsync(write, cancellationToken), read));
            write = null;
            inBatch.Clear();
            while (committing.Count >= Math.Max(1, sequence.CommitsInFlight))
            {
                await TakeOldestCommitAsync().ConfigureAwait(false);
            }
        }

        var (ahead, atOnce) = LookAhead(sequence);
        var chunks = Channel.CreateBounded<Task<Checked[]>>(new BoundedChannelOptions(ahead)
        {
            SingleReader = true,
            SingleWriter = true,
        });

        // Lets the open transaction do work it would do at commit, a piece at a time, while the writer would wait.
        void WorkWhile(Func<bool> waiting)
        {
            while (waiting() && write?.WorkWhileIdle() == true)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
        }

        // Waits for the next chunk to be started; the open transaction works meanwhile.
        async ValueTask<bool> WhenReadableAsync()
        {
            WorkWhile(() => !chunks.Reader.TryPeek(out _));

            return await chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var producer = new Producer<T>(input, parse, chunks.Writer, atOnce, stop.Token);
        var producing = producer.RunAsync();
        var finished = false;
        try
        {
            while (await WhenReadableAsync().ConfigureAwait(false))
            {
                while (chunks.Reader.TryRead(out var pending))
                {
                    // While the next chunk is being checked, the open transaction may do work it would do at commit.
                    WorkWhile(() => !pending.IsCompleted);

                    foreach (var item in await pending.ConfigureAwait(false))
                    {
                        read++;
                        if (item.Reason is not null)
                        {
                            rejected++;
                            await onReject(new IngestReject(item.Line, item.Reason, item.Document) { Index = item.Index }, cancellationToken).ConfigureAwait(false);
                            continue;
                        }

                        var doc = item.Archived!;
                        var key = Prefix(doc);
                        if (!inBatch.Add(key))
                        {
                            // The same hash twice in one transaction: commit what we have first so the later content
                            // wins, as it would across transactions.
                            await FlushAsync().ConfigureAwait(false);
                            inBatch.Add(key);
                        }

                        toAdd.Add(doc);
                        if (inBatch.Count >= _batchSize)
                        {
                            await FlushAsync().ConfigureAwait(false);
                        }
                        else if (toAdd.Count >= DocumentsPerAdd)
                        {
                            await AddPendingAsync().ConfigureAwait(false);
                        }
                    }
                }
            }

            // The input failed: what was read before is handled above, the partial batch is not written.
            producer.Failure?.Throw();
            await FlushAsync().ConfigureAwait(false);
            while (committing.Count > 0)
            {
                await TakeOldestCommitAsync().ConfigureAwait(false);
            }

            finished = true;
        }
        finally
        {
            // A transaction left open (the input failed, the store failed, the ingest was cancelled) commits nothing.
            if (write is not null)
            {
                await write.DisposeAsync().ConfigureAwait(false);
            }

            // Commits still running after a failure end on their own (a write commits only if every earlier one did);
            // their outcome is not this ingest's error, the first failure is.
            foreach (var (commit, _) in committing)
            {
                try
                {
                    await commit.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Reported through the earlier failure being raised.
                }
            }

            // The producer never throws. After a failure it is not waited for: it may be blocked reading an input
            // that only the caller can close; it stops at its next step.
            await stop.CancelAsync().ConfigureAwait(false);
            if (finished)
            {
                await producing.ConfigureAwait(false);
            }
        }

        var dangling = await archive.CountDanglingReferencesAsync(cancellationToken).ConfigureAwait(false);
        return new IngestSummary(read, inserted, duplicates, updated, rejected, dangling);
    }

    /// <summary>Commits <paramref name="write"/> and disposes of it, whatever the outcome.</summary>
    private static async Task<WriteSummary> CommitAndDisposeAsync(IArchiveWrite write, CancellationToken cancellationToken)
    {
        await using (write.ConfigureAwait(false))
        {
            return await write.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static UInt128 Prefix(ArchiveDocument doc) => System.Buffers.Binary.BinaryPrimitives.ReadUInt128BigEndian(doc.HashBytes);

    /// <summary>Parses and checks one record: the archive form, or why it is rejected.</summary>
    private static Checked Check(long index, TahoeDocumentRecord record)
    {
        if (record.Document is null)
        {
            return new Checked(index, record.Line, null, record.Error ?? "unreadable document", null);
        }

        var problems = DocumentVerifier.Verify(record.Document);
        if (problems.Count > 0)
        {
            return new Checked(index, record.Line, record.Document, string.Join("; ", problems), null);
        }

        // The verifier recomputed the hash already; do not hash the document a second time. The archive form holds
        // the stored text (serialised here, on the parallel stage, rather than by the single writer) and not the
        // parsed document, which can then be collected young instead of surviving until the writer has written it.
        if (!ArchiveDocument.TryCreateVerified(record, out var doc, out var error))
        {
            return new Checked(index, record.Line, record.Document, error, null);
        }

        return new Checked(index, record.Line, null, null, doc);
    }

    /// <summary>
    /// A checked record: <see cref="Archived"/> when it can be stored, otherwise <see cref="Reason"/> and the
    /// <see cref="Document"/> (if it could be read) for the reject.
    /// </summary>
    private readonly record struct Checked(long Index, long Line, TahoeDict? Document, string? Reason, ArchiveDocument? Archived);

    /// <summary>
    /// Reads the input into chunks and starts checking each on the thread pool, handing the pending chunks to the writer
    /// in input order. Ends the channel when the input ends, fails or the ingest stops; a failure of the input is kept in
    /// <see cref="Failure"/> for the writer to raise after the chunks read before it.
    /// </summary>
    private sealed class Producer<T>(IAsyncEnumerable<T> input, Func<T, TahoeDocumentRecord> parse, ChannelWriter<Task<Checked[]>> output, int checkingAtOnce, CancellationToken stop)
    {
        /// <summary>A place for each chunk being checked (see <see cref="LookAhead"/>): taken before a chunk is started, given back when it is checked.</summary>
        private readonly SemaphoreSlim _checking = new(checkingAtOnce);

        public ExceptionDispatchInfo? Failure { get; private set; }

        public async Task RunAsync()
        {
            // Start on the thread pool: reading and cutting the input runs beside the writer.
            await Task.Yield();
            long index = 0;
            var chunk = new List<(long Index, T Item)>(ChunkSize);
            try
            {
                try
                {
                    await foreach (var item in input.WithCancellation(stop).ConfigureAwait(false))
                    {
                        chunk.Add((index++, item));
                        if (chunk.Count == ChunkSize)
                        {
                            await output.WriteAsync(await StartAsync(chunk).ConfigureAwait(false), stop).ConfigureAwait(false);
                            chunk = new List<(long, T)>(ChunkSize);
                        }
                    }
                }
                catch (Exception e) when (!stop.IsCancellationRequested)
                {
                    Failure = ExceptionDispatchInfo.Capture(e);
                }

                if (chunk.Count > 0)
                {
                    await output.WriteAsync(await StartAsync(chunk).ConfigureAwait(false), stop).ConfigureAwait(false);
                }
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                // The writer stopped (done, failed or cancelled); it raises its own outcome.
            }
            finally
            {
                output.TryComplete();
            }
        }

        /// <summary>Starts checking <paramref name="chunk"/> on the thread pool once a place is free (<see cref="_checking"/>).</summary>
        private async Task<Task<Checked[]>> StartAsync(List<(long Index, T Item)> chunk)
        {
            await _checking.WaitAsync(stop).ConfigureAwait(false);
            return Task.Run(
                () =>
                {
                    try
                    {
                        var result = new Checked[chunk.Count];
                        for (var i = 0; i < chunk.Count; i++)
                        {
                            var (index, item) = chunk[i];
                            result[i] = Check(index, parse(item));
                        }

                        return result;
                    }
                    finally
                    {
                        _checking.Release();
                    }
                },
                stop);
        }
    }
}
