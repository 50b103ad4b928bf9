using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>
/// A deliberately plain transcription of <c>tahoe.misc.canonical</c> (spec §2.1), string by string and level by level,
/// with none of the production code's shortcuts: the oracle the direct-to-UTF-8 writer is checked against.
/// </summary>
internal static class ReferenceCanonical
{
    public static string Of(TahoeValue value) => value switch
    {
        TahoeString s => Dumps(Strip(s.Value)),
        TahoeDict d => "{" + string.Join(
            ", ",
            d.Entries.OrderBy(e => CodePoints(e.Key), CodePointOrder.Instance).Select(e => Dumps(e.Key) + ": " + Dumps(Of(e.Value)))) + "}",
        TahoeList l => "[" + string.Join(", ", l.Items.Select(Of).Distinct().Order(StringComparer.Ordinal).Select(Dumps)) + "]",
        TahoeNull => "null",
        TahoeBool b => b.Value ? "true" : "false",
        TahoeInt i => i.Value.ToString(CultureInfo.InvariantCulture),
        TahoeFloat f => FloatRepr(f.Value),
        _ => throw new ArgumentException("unknown kind", nameof(value)),
    };

    /// <summary>The event rule: <c>"event" + sub_type + orgid + str(timestamp) + canonical(data)</c>.</summary>
    public static string EventUnique(string subType, string orgid, double timestamp, TahoeValue data) =>
        "event" + subType + orgid + FloatStr(timestamp) + Of(data);

    /// <summary>SHA-256 of the UTF-8 bytes, lowercase hex.</summary>
    public static string Sha256(string unique) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(unique)));

    /// <summary>json.dumps(s) with ensure_ascii, one UTF-16 unit at a time.</summary>
    public static string Dumps(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\b' => "\\b",
                '\f' => "\\f",
                >= ' ' and <= '~' => c.ToString(),
                _ => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
            });
        }

        return sb.Append('"').ToString();
    }

    public static string Strip(string s)
    {
        const string pythonWhitespace = "\t\n\v\f\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
        return s.Trim(pythonWhitespace.ToCharArray());
    }

    public static string FloatStr(double value) =>
        double.IsNaN(value) ? "nan" : double.IsInfinity(value) ? (value > 0 ? "inf" : "-inf") : FloatRepr(value);

    /// <summary>Python repr(float): the shortest round-trip digits laid out by the exponent rule.</summary>
    public static string FloatRepr(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "Infinity" : "-Infinity";
        }

        // "E16" gives 17 significant digits; the shortest round-trip ones are the fewest that parse back.
        var negative = double.IsNegative(value);
        var magnitude = Math.Abs(value);
        if (magnitude == 0)
        {
            return negative ? "-0.0" : "0.0";
        }

        string digits = string.Empty;
        var exponent = 0;
        for (var precision = 1; precision <= 17; precision++)
        {
            var e = magnitude.ToString("E" + (precision - 1).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            if (double.Parse(e, CultureInfo.InvariantCulture) == magnitude)
            {
                var mantissa = e[..e.IndexOf('E', StringComparison.Ordinal)];
                digits = mantissa.Replace(".", string.Empty, StringComparison.Ordinal).TrimEnd('0');
                exponent = int.Parse(e[(e.IndexOf('E', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
                break;
            }
        }

        string body;
        if (exponent < -4 || exponent >= 16)
        {
            body = digits[..1] + (digits.Length > 1 ? "." + digits[1..] : string.Empty) +
                "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
        }
        else if (exponent < 0)
        {
            body = "0." + new string('0', -exponent - 1) + digits;
        }
        else if (exponent + 1 >= digits.Length)
        {
            body = digits + new string('0', exponent + 1 - digits.Length) + ".0";
        }
        else
        {
            body = digits[..(exponent + 1)] + "." + digits[(exponent + 1)..];
        }

        return negative ? "-" + body : body;
    }

    // A Python str is a sequence of code points: a valid pair is one, a lone surrogate is itself.
    private static int[] CodePoints(string s)
    {
        var points = new List<int>();
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                points.Add(char.ConvertToUtf32(s[i], s[i + 1]));
                i++;
            }
            else
            {
                points.Add(s[i]);
            }
        }

        return [.. points];
    }

    private sealed class CodePointOrder : IComparer<int[]>
    {
        public static readonly CodePointOrder Instance = new();

        public int Compare(int[]? x, int[]? y) => x.AsSpan().SequenceCompareTo(y.AsSpan());
    }
}
