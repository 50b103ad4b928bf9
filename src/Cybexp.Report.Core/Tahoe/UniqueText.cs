using System.Globalization;
using System.Numerics;

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

                unique = string.Concat("event", subType, orgid, PythonText.FloatStr(ts), Canonical.Of(data));
                break;
            case "object" when subType == "query":
                if (!TryFirst(data, "qtype", out var qtype) || !TryFirst(data, "qhash", out var qhash) ||
                    !TryFirst(data, "userid", out var userid) || !TryFirstNumber(data, "timestamp", out var qts))
                {
                    error = "query 'data' must hold qtype, qhash, userid and timestamp";
                    return false;
                }

                unique = string.Concat("objectquery", qtype, qhash, userid, HourBucket(qts).ToString(CultureInfo.InvariantCulture));
                break;
            case "object" when UserSubTypes.Contains(subType):
                if (!TryFirst(data, "email_addr", out var email))
                {
                    error = "user 'data' must hold email_addr";
                    return false;
                }

                unique = string.Concat("object", subType, email);
                break;
            case "object" when subType == "cybexp_org":
                if (!TryFirst(data, "orgname", out var orgname))
                {
                    error = "org 'data' must hold orgname";
                    return false;
                }

                unique = string.Concat("objectcybexp_org", orgname);
                break;
            default:
                unique = string.Concat(itype, subType, Canonical.Of(data));
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
