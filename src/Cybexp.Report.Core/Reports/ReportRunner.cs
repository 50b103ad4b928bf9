using System.Text;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Core.Time;

namespace Cybexp.Report.Core.Reports;

/// <summary>A query to run: type, stored qdata text, whether it is encrypted, and the asking user's hash.</summary>
public sealed record QueryInput(string QType, string QData, bool Encrypted, string UserId);

/// <summary>What running a query produced: final status, the report document, and the error message when failed.</summary>
public sealed record ReportOutcome(string Status, TahoeDict Report, string? Error)
{
    /// <summary>The report document's hash.</summary>
    public InstanceHash ReportHash => InstanceHash.Parse(Report["_hash"]!.AsString);
}

/// <summary>
/// Turns a query into a report, in the original's order: decode (bytes literal / base64, decrypt when encrypted) →
/// decanonical → validate → time range → user and visibility → engine. Bad input of any kind ends in a
/// <c>failed</c> report whose data is a message naming what was wrong; only an unreachable store escapes (as
/// <see cref="StoreUnavailableException"/>) so the caller can retry instead of failing the query.
/// </summary>
/// <param name="store">Where the archive and identities are.</param>
/// <param name="decryptor">The cluster's key for encrypted query data, or null.</param>
/// <param name="graphs">ThreatRank graphs kept between queries, or null for a cache of this runner's own.</param>
/// <param name="access">
/// Users' access kept between queries (used only when the caller passes the identity version its query was claimed
/// at), or null to read it from the store every time.
/// </param>
public sealed class ReportRunner(ICybexpStore store, QueryDecryptor? decryptor, ThreatRankGraphCache? graphs = null, UserAccessCache? access = null)
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);
    private readonly ThreatRankGraphCache _graphs = graphs ?? new ThreatRankGraphCache(store.Archive);

    /// <summary>Runs <paramref name="input"/> as of <paramref name="now"/> (epoch seconds).</summary>
    public Task<ReportOutcome> RunAsync(QueryInput input, double now, CancellationToken cancellationToken) =>
        RunAsync(input, now, null, cancellationToken);

    /// <summary>
    /// Runs <paramref name="input"/> as of <paramref name="now"/> (epoch seconds). <paramref name="identityVersion"/> is
    /// the store's identity version when the query was claimed (<see cref="QueryClaim.IdentityVersion"/>): the user's
    /// access may then come from the runner's cache if it was read at that version or later.
    /// </summary>
    public async Task<ReportOutcome> RunAsync(QueryInput input, double now, long? identityVersion, CancellationToken cancellationToken)
    {
        try
        {
            var result = await ComputeAsync(input, now, identityVersion, cancellationToken).ConfigureAwait(false);
            return new ReportOutcome(QueryStatus.Ready, ReportDocument.Create(input.QType, input.UserId, now, QueryStatus.Ready, result), null);
        }
        catch (ReportFailedException e)
        {
            return Failed(input, now, e.Message);
        }
    }

    /// <summary>A failed outcome whose report data is <paramref name="message"/>.</summary>
    public static ReportOutcome Failed(QueryInput input, double now, string message) =>
        new(QueryStatus.Failed, ReportDocument.Create(input.QType, input.UserId, now, QueryStatus.Failed, ReportResult.Single(TahoeValue.String(message))), message);

    /// <summary>Decodes and validates the query without running it (for <c>--explain</c>): the query and its time range.</summary>
    public (ReportQuery Query, TimeRange Range) Prepare(QueryInput input, double now) => PrepareWithoutStore(input, decryptor, now);

    /// <summary>As <see cref="Prepare"/>, needing no store: only decoding, validation and the time range.</summary>
    /// <exception cref="ReportFailedException">The query is invalid; the message says why.</exception>
    public static (ReportQuery Query, TimeRange Range) PrepareWithoutStore(QueryInput input, QueryDecryptor? decryptor, double now)
    {
        var qdata = Decode(input, decryptor);
        var validation = QueryValidator.Validate(input.QType, qdata);
        if (!validation.IsValid)
        {
            throw new ReportFailedException(validation.Error!);
        }

        var q = validation.Query!;
        var range = TimeRangeResolver.Resolve(q.From, q.To, q.Last, q.TzName, now);
        if (!range.TryGetValue(out var r))
        {
            throw new ReportFailedException(range.Error!.Message);
        }

        return (q, r);
    }

    private async Task<ReportResult> ComputeAsync(QueryInput input, double now, long? identityVersion, CancellationToken ct)
    {
        var (query, range) = Prepare(input, now);
        if (!InstanceHash.TryParse(input.UserId, out var userHash))
        {
            throw new ReportFailedException($"unknown user: no CYBEX-P user has the hash '{Shorten(input.UserId)}'");
        }

        var user = await AccessOfAsync(userHash, identityVersion, ct).ConfigureAwait(false);
        if (user.User is null)
        {
            throw new ReportFailedException($"unknown user: no CYBEX-P user has the hash '{Shorten(input.UserId)}'");
        }

        var visibility = user.Visibility;
        var filter = new EventFilter(range.Start, range.End, query.Category, query.Context);
        return query.QType switch
        {
            QueryTypes.Count => await new CountEngine(store.Archive).RunAsync(query, filter, visibility, ct).ConfigureAwait(false),
            QueryTypes.Related => await new RelatedEngine(store.Archive).RunAsync(query, filter, visibility, ct).ConfigureAwait(false),
            _ => await new ThreatRankEngine(store.Archive, _graphs).RunAsync(query, filter, visibility, now, ct).ConfigureAwait(false),
        };
    }

    /// <summary>The user and their visibility: from the cache when it is current for the claim, else from the store.</summary>
    private async Task<UserAccess> AccessOfAsync(InstanceHash user, long? identityVersion, CancellationToken ct)
    {
        if (access is not null && identityVersion is { } version && access.TryGet(user, version, out var cached))
        {
            return cached;
        }

        var read = await store.Identity.FindUserAccessAsync(user, ct).ConfigureAwait(false);
        if (read.User is not null)
        {
            access?.Put(user, read);
        }

        return read;
    }

    private static TahoeValue Decode(QueryInput input, QueryDecryptor? decryptor)
    {
        string text;
        if (input.Encrypted)
        {
            if (decryptor is null)
            {
                throw new ReportFailedException("the query data is encrypted but this report cluster has no private key configured (--key)");
            }

            var blob = QueryCiphertext.Parse(input.QData);
            if (!blob.TryGetValue(out var ciphertext, out var formError))
            {
                throw new ReportFailedException($"the encrypted query data is unreadable: {formError}");
            }

            var plain = decryptor.Decrypt(ciphertext);
            if (!plain.IsSuccess)
            {
                throw new ReportFailedException($"the query data could not be decrypted: {plain.Failure!.Message}");
            }

            text = plain.Plaintext!;
        }
        else if (input.QData.StartsWith("b'", StringComparison.Ordinal) || input.QData.StartsWith("b\"", StringComparison.Ordinal))
        {
            var bytes = PythonBytesLiteral.Parse(input.QData);
            if (!bytes.TryGetValue(out var raw, out var literalError))
            {
                throw new ReportFailedException($"the query data is not a valid bytes literal: {literalError}");
            }

            try
            {
                text = StrictUtf8.GetString(raw);
            }
            catch (DecoderFallbackException)
            {
                throw new ReportFailedException("the query data is not valid UTF-8 text");
            }
        }
        else
        {
            text = input.QData;
        }

        var qdata = Canonical.Decanonical(text);
        return qdata is TahoeDict
            ? qdata
            : throw new ReportFailedException($"the query data must be a JSON object (canonical TAHOE form), got {Shorten(text)}");
    }

    private static string Shorten(string s) => s.Length > 80 ? s[..80] + "…" : s;
}
