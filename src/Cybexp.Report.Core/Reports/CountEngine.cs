using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Reports;

/// <summary>
/// <c>count</c>: the exact number of visible events referencing an attribute in a time range (the original stopped at
/// 100), optionally with a time series of fixed-width buckets aligned to the epoch.
/// </summary>
public sealed class CountEngine(IArchiveStore archive)
{
    /// <summary>The most buckets a time series may have.</summary>
    public const int MaxBuckets = 10_000;

    /// <summary>Computes the count report.</summary>
    public async Task<ReportResult> RunAsync(ReportQuery query, EventFilter filter, Visibility visibility, CancellationToken cancellationToken)
    {
        var attribute = AttributeHash.Of(query.SubType!, query.Data ?? TahoeValue.Null);
        var total = await archive.CountEventsAsync(attribute, filter, visibility, cancellationToken).ConfigureAwait(false);
        if (query.IntervalSeconds is not { } width)
        {
            return ReportResult.Single(TahoeValue.Int(total));
        }

        var span = await archive.EventTimeSpanAsync(attribute, filter, visibility, cancellationToken).ConfigureAwait(false);
        // The series spans the range the query names; an open side (the default end is "now") ends at the events.
        var lower = (query.From is not null || query.Last is not null) && double.IsFinite(filter.Lower) ? filter.Lower : span?.First;
        var upper = (query.To is not null || query.Last is not null) && double.IsFinite(filter.Upper) ? filter.Upper : span?.Last;
        var buckets = new List<TahoeValue>();
        if (lower is { } lo && upper is { } hi && hi >= lo)
        {
            var origin = Math.Floor(lo / width) * width;
            var n = (long)Math.Floor((hi - origin) / width) + 1;
            if (n > MaxBuckets)
            {
                throw new ReportFailedException(
                    $"'interval' {query.Interval} over this time range gives {n} buckets; at most {MaxBuckets} are allowed: choose a wider interval or a shorter range");
            }

            var counts = await archive.CountEventsByBucketAsync(attribute, filter, visibility, origin, width, cancellationToken).ConfigureAwait(false);
            var byStart = counts.ToDictionary(c => c.Start, c => c.Count);
            for (long i = 0; i < n; i++)
            {
                var start = origin + (i * width);
                buckets.Add(TahoeValue.Dict(
                    ("start", BucketStart(start)),
                    ("count", TahoeValue.Int(byStart.GetValueOrDefault(start)))));
            }
        }

        return ReportResult.Single(TahoeValue.Dict(("total", TahoeValue.Int(total)), ("buckets", TahoeValue.List(buckets))));
    }

    // Bucket starts are whole seconds when aligned to the epoch; keep them ints in JSON.
    private static TahoeValue BucketStart(double start) =>
        start == Math.Floor(start) && Math.Abs(start) < 9e15 ? TahoeValue.Int((long)start) : TahoeValue.Float(start);
}
