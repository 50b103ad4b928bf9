using System.Globalization;
using System.Numerics;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// The text whose SHA-256 is an instance's <c>_hash</c> (the original's <c>_unique</c>), computed from a stored
/// document. Rules per itype: default <c>itype + sub_type + canonical(data)</c>; event adds
/// <c>orgid + str(timestamp)</c>; a TDQL (object/query) uses its hour bucket; users and orgs their raw names.
/// </summary>
public static class UniqueText
{
    /// <summary>Sub-types of identity user documents.</summary>
    public static readonly IReadOnlySet<string> UserSubTypes = new HashSet<string>(StringComparer.Ordinal) { "cybexp_user", "cybexp_superuser" };

    /// <summary>Computes the unique text of <paramref name="doc"/>, or explains what is missing.</summary>
    public static bool TryCompute(TahoeDict doc, out string unique, out string error)
    {
        unique = string.Empty;
        if (!TryRule(doc, out var rule, out error))
        {
            return false;
        }

        if (rule.Data is null)
        {
            unique = string.Concat(rule.Parts.A, rule.Parts.B, rule.Parts.C, rule.Parts.D);
            return true;
        }

        // prefix + canonical(data): the canonical text is written once as ASCII and widened into the result.
        var timestamp = rule.Timestamp is { } ts ? PythonText.FloatStr(ts) : string.Empty;
        var writer = CanonicalWriter.Rent();
        try
        {
            writer.WriteCanonical(rule.Data);
            var (a, b, c, d) = rule.Parts;
            var length = checked(a.Length + b.Length + c.Length + d.Length + timestamp.Length + writer.Output.Length);
            unique = string.Create(length, (rule.Parts, timestamp, writer), static (chars, state) =>
            {
                var at = 0;
                var (a, b, c, d) = state.Parts;
                foreach (var part in (ReadOnlySpan<string>)[a, b, c, d, state.timestamp])
                {
                    part.CopyTo(chars[at..]);
                    at += part.Length;
                }

                Encoding.Latin1.GetChars(state.writer.Output.Written, chars[at..]);
            });
            return true;
        }
        finally
        {
            CanonicalWriter.Return(writer);
        }
    }

    /// <summary>
    /// <see cref="InstanceHash.Of"/> of the unique text of <paramref name="doc"/>, computed from UTF-8 written straight
    /// into a pooled buffer (no string is built); false, with what is missing, as <see cref="TryCompute"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The text holds a lone surrogate, which UTF-8 cannot encode (as <see cref="InstanceHash.Of"/>).</exception>
    public static bool TryComputeHash(TahoeDict doc, out InstanceHash hash, out string error)
    {
        hash = default;
        Span<byte> digest = stackalloc byte[32];
        if (!TryComputeDigest(doc, digest, out error))
        {
            return false;
        }

        hash = InstanceHash.FromBytes(digest);
        return true;
    }

    /// <summary>As <see cref="TryComputeHash"/>, the 32 bytes of the SHA-256 into <paramref name="digest"/> (no string is built).</summary>
    /// <exception cref="ArgumentException">The text holds a lone surrogate, which UTF-8 cannot encode.</exception>
    internal static bool TryComputeDigest(TahoeDict doc, Span<byte> digest, out string error)
    {
        if (!TryRule(doc, out var rule, out error))
        {
            return false;
        }

        var writer = CanonicalWriter.Rent();
        try
        {
            writer.WriteUtf8(rule.Parts.A);
            writer.WriteUtf8(rule.Parts.B);
            writer.WriteUtf8(rule.Parts.C);
            writer.WriteUtf8(rule.Parts.D);
            if (rule.Timestamp is { } ts)
            {
                writer.WriteFloatStr(ts);
            }

            if (rule.Data is not null)
            {
                writer.WriteCanonical(rule.Data);
            }

            if (writer.PrefixInvalid)
            {
                throw new ArgumentException("the text cannot be encoded as UTF-8 (it holds a lone surrogate)", nameof(doc));
            }

            Sha256Direct.Hash(writer.Output.Written, digest);
            return true;
        }
        finally
        {
            CanonicalWriter.Return(writer);
        }
    }

    // The unique text of a document as up to four raw strings, then str(timestamp) when Timestamp is set, then
    // canonical(Data) when Data is set.
    private readonly record struct Rule((string A, string B, string C, string D) Parts, double? Timestamp, TahoeValue? Data);

    private static bool TryRule(TahoeDict doc, out Rule rule, out string error)
    {
        rule = default;
        if (doc["itype"] is not TahoeString { Value: var itype })
        {
            error = "'itype' is missing or not a string";
            return false;
        }

        if (doc["sub_type"] is not TahoeString { Value: var subType })
        {
            error = "'sub_type' is missing or not a string";
            return false;
        }

        if (!doc.TryGet("data", out var data))
        {
            error = "'data' is missing";
            return false;
        }

        switch (itype)
        {
            case "event":
                if (doc["orgid"] is not TahoeString { Value: var orgid })
                {
                    error = "event 'orgid' is missing or not a string";
                    return false;
                }

                if (!TryNumber(doc["timestamp"], out var ts))
                {
                    error = "event 'timestamp' is missing or not a number";
                    return false;
                }

                rule = new Rule(("event", subType, orgid, string.Empty), ts, data);
                break;
            case "object" when subType == "query":
                if (!TryFirst(data, "qtype", out var qtype) || !TryFirst(data, "qhash", out var qhash) ||
                    !TryFirst(data, "userid", out var userid) || !TryFirstNumber(data, "timestamp", out var qts))
                {
                    error = "query 'data' must hold qtype, qhash, userid and timestamp";
                    return false;
                }

                rule = new Rule(("objectquery" + qtype, qhash, userid, HourBucket(qts).ToString(CultureInfo.InvariantCulture)), null, null);
                break;
            case "object" when UserSubTypes.Contains(subType):
                if (!TryFirst(data, "email_addr", out var email))
                {
                    error = "user 'data' must hold email_addr";
                    return false;
                }

                rule = new Rule(("object", subType, email, string.Empty), null, null);
                break;
            case "object" when subType == "cybexp_org":
                if (!TryFirst(data, "orgname", out var orgname))
                {
                    error = "org 'data' must hold orgname";
                    return false;
                }

                rule = new Rule(("objectcybexp_org", orgname, string.Empty, string.Empty), null, null);
                break;
            default:
                rule = new Rule((itype, subType, string.Empty, string.Empty), null, data);
                break;
        }

        error = string.Empty;
        return true;
    }

    /// <summary>The TDQL hour bucket: Python <c>int(timestamp)//60//60</c> (truncate, then floor-divide).</summary>
    public static BigInteger HourBucket(double timestamp)
    {
        var truncated = new BigInteger(Math.Truncate(timestamp));
        return BigInteger.Divide(truncated - (truncated.Sign < 0 ? 3599 : 0), 3600);
    }

    private static bool TryNumber(TahoeValue? v, out double value)
    {
        switch (v)
        {
            case TahoeFloat f:
                value = f.Value;
                return true;
            case TahoeInt i:
                value = (double)i.Value;
                return true;
            default:
                value = 0;
                return false;
        }
    }

    private static bool TryFirst(TahoeValue data, string key, out string text)
    {
        text = string.Empty;
        if (data is TahoeDict d && d[key] is TahoeList { Count: > 0 } l && l[0] is TahoeString s)
        {
            text = s.Value;
            return true;
        }

        return false;
    }

    private static bool TryFirstNumber(TahoeValue data, string key, out double value)
    {
        value = 0;
        return data is TahoeDict d && d[key] is TahoeList { Count: > 0 } l && TryNumber(l[0], out value);
    }
}
