using System.Text;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>
/// The character-by-character implementation <see cref="TahoeJsonWriter"/> replaced, kept as the reference its
/// property tests compare with.
/// Writes a <see cref="TahoeValue"/> as compact JSON that reads back to the same value: floats always carry a
/// <c>.</c> or exponent (Python repr), non-finite floats use MongoDB Extended JSON (<c>{"$numberDouble":"NaN"}</c>),
/// non-ASCII text is written as UTF-8 except lone surrogates and control characters, which are escaped.
/// </summary>
internal static class ReferenceTahoeJsonWriter
{
    /// <summary>The JSON text of <paramref name="value"/>.</summary>
    public static string Write(TahoeValue value)
    {
        var sb = new StringBuilder();
        Append(sb, value);
        return sb.ToString();
    }

    /// <summary>Appends the JSON text of <paramref name="value"/>.</summary>
    public static void Append(StringBuilder sb, TahoeValue value)
    {
        switch (value)
        {
            case TahoeNull: sb.Append("null"); break;
            case TahoeBool b: sb.Append(b.Value ? "true" : "false"); break;
            case TahoeInt i: sb.Append(i.Digits); break;
            case TahoeFloat f:
                if (double.IsFinite(f.Value))
                {
                    sb.Append(PythonText.FloatRepr(f.Value));
                }
                else
                {
                    sb.Append("{\"$numberDouble\":\"").Append(PythonText.FloatRepr(f.Value)).Append("\"}");
                }

                break;
            case TahoeString s: AppendString(sb, s.Value); break;
            case TahoeList l:
                sb.Append('[');
                for (var k = 0; k < l.Count; k++)
                {
                    if (k > 0)
                    {
                        sb.Append(',');
                    }

                    Append(sb, l[k]);
                }

                sb.Append(']');
                break;
            case TahoeDict d:
                sb.Append('{');
                for (var k = 0; k < d.Count; k++)
                {
                    if (k > 0)
                    {
                        sb.Append(',');
                    }

                    AppendString(sb, d.Entries[k].Key);
                    sb.Append(':');
                    Append(sb, d.Entries[k].Value);
                }

                sb.Append('}');
                break;
            default:
                throw new ArgumentException($"unknown value kind {value.Kind}", nameof(value));
        }
    }

    /// <summary>Appends a JSON string literal.</summary>
    public static void AppendString(StringBuilder sb, string s)
    {
        sb.Append('"');
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); continue;
                case '\\': sb.Append("\\\\"); continue;
                case '\n': sb.Append("\\n"); continue;
                case '\r': sb.Append("\\r"); continue;
                case '\t': sb.Append("\\t"); continue;
            }

            var lone = (char.IsHighSurrogate(c) && (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])))
                       || (char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(s[i - 1])));
            if (c < ' ' || c == '\u007f' || lone || c == '\u2028' || c == '\u2029')
            {
                sb.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        sb.Append('"');
    }
}
