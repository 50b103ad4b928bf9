using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Service.Ingest;

/// <summary>What one ingest did. <see cref="DanglingReferences"/> counts references to documents the archive lacks, after the ingest.</summary>
public sealed record IngestSummary(long Read, long Inserted, long Duplicates, long Updated, long Rejected, long DanglingReferences);

/// <summary>A document that was not stored, and why.</summary>
public sealed record IngestReject(long Line, string Reason, TahoeDict? Document);

/// <summary>
/// Streams TAHOE documents into the archive in batched transactions (constant memory): every <c>_hash</c> is checked
/// against the content, rejects are handed to the caller with the reason (never silently dropped), a document that is
/// already stored counts as a duplicate, and one whose hash is stored with other content updates it. Re-running an
/// interrupted ingest stores nothing twice: each batch commits whole or not at all.
/// </summary>
public sealed class ArchiveIngestor(IArchiveStore archive, int batchSize = 2000)
{
    /// <summary>Ingests <paramref name="records"/>; <paramref name="onReject"/> receives each rejected document.</summary>
    public async Task<IngestSummary> IngestAsync(
        IAsyncEnumerable<TahoeDocumentRecord> records,
        Func<IngestReject, CancellationToken, Task> onReject,
        IProgress<long>? progress,
        CancellationToken cancellationToken)
    {
        long read = 0, inserted = 0, duplicates = 0, updated = 0, rejected = 0;
        var batch = new List<ArchiveDocument>(batchSize);
        var inBatch = new HashSet<InstanceHash>();

        async Task FlushAsync()
        {
            if (batch.Count == 0)
            {
                return;
            }

            var summary = await archive.WriteAsync(batch, cancellationToken).ConfigureAwait(false);
            inserted += summary.Inserted;
            duplicates += summary.Duplicates;
            updated += summary.Updated;
            batch.Clear();
            inBatch.Clear();
            progress?.Report(read);
        }

        await foreach (var record in records.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            read++;
            var reason = Check(record, out var doc);
            if (reason is not null)
            {
                rejected++;
                await onReject(new IngestReject(record.Line, reason, record.Document), cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!inBatch.Add(doc!.Hash))
            {
                // The same hash twice in one batch: write what we have first so the later content wins, as it would
                // across batches.
                await FlushAsync().ConfigureAwait(false);
                inBatch.Add(doc.Hash);
            }

            batch.Add(doc);
            if (batch.Count >= batchSize)
            {
                await FlushAsync().ConfigureAwait(false);
            }
        }

        await FlushAsync().ConfigureAwait(false);
        var dangling = await archive.CountDanglingReferencesAsync(cancellationToken).ConfigureAwait(false);
        return new IngestSummary(read, inserted, duplicates, updated, rejected, dangling);
    }

    private static string? Check(TahoeDocumentRecord record, out ArchiveDocument? doc)
    {
        doc = null;
        if (record.Document is null)
        {
            return record.Error ?? "unreadable document";
        }

        var problems = DocumentVerifier.Verify(record.Document);
        if (problems.Count > 0)
        {
            return string.Join("; ", problems);
        }

        // The verifier recomputed the hash already; do not hash the document a second time.
        return ArchiveDocument.TryCreateVerified(record.Document, out doc, out var error) ? null : error;
    }
}
