using System.Security.Cryptography;
using System.Text;
using Cybexp.Report.Core.Crypto;
using Cybexp.Report.Core.Queries;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Service.Http;

/// <summary>A request body turned into a submission, or the message naming what is wrong with it.</summary>
internal sealed record ParsedSubmission(QuerySubmission? Submission, string? Error);

/// <summary>
/// Checks the shape of <c>POST /api/v1/queries</c> bodies and turns them into submissions. Only the envelope is
/// checked here; the query data itself is validated by the worker, whose failed report names the problem.
/// </summary>
internal static class QueryRequests
{
    /// <summary>Longest accepted notification nonce (the original sends 32 hex characters).</summary>
    public const int MaxNonceLength = 64;

    /// <summary>Longest accepted notification host name.</summary>
    public const int MaxHostLength = 253;

    private static readonly string[] Fields = ["type", "data", "encrypted", "notify"];
    private static readonly string[] NotifyFields = ["host", "port", "nonce"];
    private static readonly string[] Types = [QueryTypes.Count, QueryTypes.Related, QueryTypes.ThreatRank];

    /// <summary>
    /// The submission for <paramref name="body"/> by <paramref name="userId"/>. Plain <c>data</c> is stored as its
    /// TAHOE canonical text with <c>qhash</c> = SHA-256 of that text (the original's form); an <c>encrypted</c> blob
    /// is stored as given with no qhash (its plaintext, and so its hash, is unknown here).
    /// </summary>
    public static ParsedSubmission Parse(TahoeValue body, string userId)
    {
        if (body is not TahoeDict fields)
        {
            return Fail("the request body must be a JSON object like {\"type\": \"count\", \"data\": {\"sub_type\": \"ipv4\", \"data\": \"1.1.1.1\"}}");
        }

        if (Unknown(fields, Fields) is { } unknown)
        {
            return Fail($"unknown field '{unknown}'; the accepted fields are type, data, encrypted and notify");
        }

        if (fields["type"] is not TahoeString { Value: var type } || !Types.Contains(type, StringComparer.Ordinal))
        {
            return Fail("'type' must be count, related or threatrank");
        }

        var data = fields["data"];
        var encrypted = fields["encrypted"];
        if ((data is null) == (encrypted is null))
        {
            return Fail("give exactly one of 'data' and 'encrypted': 'data' is the query as a JSON object, 'encrypted' the base64 blob from cybexp-report encrypt");
        }

        var notify = ParseNotify(fields["notify"], out var notifyError);
        if (notifyError is not null)
        {
            return Fail(notifyError);
        }

        if (data is not null)
        {
            if (data is not TahoeDict)
            {
                return Fail($"'data' must be a JSON object (the query, e.g. {{\"sub_type\": \"ipv4\", \"data\": \"1.1.1.1\"}}), not a {KindName(data)}");
            }

            var canonical = Canonical.Of(data);
            return new ParsedSubmission(new QuerySubmission(type, canonical, false, userId, QHashOf(canonical), notify), null);
        }

        if (encrypted is not TahoeString { Value: var blob } || !QueryCiphertext.Parse(blob).TryGetValue(out _, out _))
        {
            return Fail("'encrypted' must be the base64 text of an encrypted query (as printed by cybexp-report encrypt)");
        }

        return new ParsedSubmission(new QuerySubmission(type, blob, true, userId, null, notify), null);
    }

    /// <summary>The original's qhash: lowercase hex SHA-256 of the canonical text's UTF-8 bytes.</summary>
    public static string QHashOf(string canonical) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    /// <summary>Python truthiness, as the original tests <c>redo</c>.</summary>
    public static bool IsTruthy(TahoeValue? value) => value switch
    {
        null or TahoeNull => false,
        TahoeBool b => b.Value,
        TahoeInt i => !i.Value.IsZero,
        TahoeFloat f => f.Value != 0,
        TahoeString s => s.Value.Length > 0,
        TahoeList l => l.Count > 0,
        TahoeDict d => d.Count > 0,
        _ => true,
    };

    /// <summary>A JSON-ish name of a value's kind, for messages.</summary>
    public static string KindName(TahoeValue value) => value switch
    {
        TahoeNull => "null",
        TahoeBool => "boolean",
        TahoeInt or TahoeFloat => "number",
        TahoeString => "string",
        TahoeList => "list",
        _ => "object",
    };

    private static NotifySocket? ParseNotify(TahoeValue? value, out string? error)
    {
        error = null;
        if (value is null)
        {
            return null;
        }

        if (value is not TahoeDict fields)
        {
            error = "'notify' must be an object {\"host\": …, \"port\": …, \"nonce\": …}";
            return null;
        }

        if (Unknown(fields, NotifyFields) is { } unknown)
        {
            error = $"unknown field 'notify.{unknown}'; the accepted fields are host, port and nonce";
            return null;
        }

        if (fields["host"] is not TahoeString { Value: var host } || host.Trim().Length == 0 || host.Length > MaxHostLength)
        {
            error = $"'notify.host' must be a host name or address of 1 to {MaxHostLength} characters";
            return null;
        }

        if (fields["port"] is not TahoeInt { FitsInt64: true } port || port.Int64 is < 1 or > 65535)
        {
            error = "'notify.port' must be an integer from 1 to 65535";
            return null;
        }

        if (fields["nonce"] is not TahoeString { Value: var nonce } || nonce.Length is 0 or > MaxNonceLength)
        {
            error = $"'notify.nonce' must be a string of 1 to {MaxNonceLength} characters";
            return null;
        }

        return new NotifySocket(host.Trim(), (int)port.Int64, nonce);
    }

    private static string? Unknown(TahoeDict fields, string[] accepted) =>
        fields.Entries.Select(e => e.Key).FirstOrDefault(k => !accepted.Contains(k, StringComparer.Ordinal));

    private static ParsedSubmission Fail(string message) => new(null, message);
}
