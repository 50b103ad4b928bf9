using System.Buffers;
using System.Globalization;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// Writes a <see cref="TahoeValue"/> as compact JSON that reads back to the same value: floats always carry a
/// <c>.</c> or exponent (Python repr), non-finite floats use MongoDB Extended JSON (<c>{"$numberDouble":"NaN"}</c>),
/// non-ASCII text is written as UTF-8 except lone surrogates and control characters, which are escaped.
/// </summary>
public static class TahoeJsonWriter
{
    // A builder per thread, reused by Write (documents are written one after the other, many times a second).
    private const int MaxCachedBuilder = 1 << 16;

    [ThreadStatic]
    private static StringBuilder? t_builder;

    // The characters AppendString must look at: quote, backslash, control characters, DEL, surrogates (a lone one is
    // escaped) and the JavaScript line separators. Runs of any other character are copied as they are.
    private static readonly SearchValues<char> Attention = SearchValues.Create(AttentionChars());

    /// <summary>The JSON text of <paramref name="value"/>.</summary>
    public static string Write(TahoeValue value)
    {
        var sb = t_builder ?? new StringBuilder(1024);
        t_builder = null;
        try
        {
            Append(sb, value);
            return sb.ToString();
        }
        finally
        {
            if (sb.Capacity <= MaxCachedBuilder)
            {
                sb.Clear();
                t_builder = sb;
            }
        }
    }

    /// <summary>
    /// <see cref="Write"/> of <paramref name="value"/> as UTF-8 (the text never holds a lone surrogate: those are
    /// escaped), without the intermediate string.
    /// </summary>
    public static byte[] WriteUtf8(TahoeValue value)
    {
        var sb = t_builder ?? new StringBuilder(1024);
        t_builder = null;
        var chars = Array.Empty<char>();
        try
        {
            Append(sb, value);
            chars = ArrayPool<char>.Shared.Rent(sb.Length);
            var text = chars.AsSpan(0, sb.Length);
            sb.CopyTo(0, text, text.Length);
            var bytes = new byte[Encoding.UTF8.GetByteCount(text)];
            Encoding.UTF8.GetBytes(text, bytes);
            return bytes;
        }
        finally
        {
            if (chars.Length > 0)
            {
                ArrayPool<char>.Shared.Return(chars);
            }

            if (sb.Capacity <= MaxCachedBuilder)
            {
                sb.Clear();
                t_builder = sb;
            }
        }
    }

    /// <summary>Appends the JSON text of <paramref name="value"/>.</summary>
    public static void Append(StringBuilder sb, TahoeValue value)
    {
        switch (value)
        {
            case TahoeNull: sb.Append("null"); break;
            case TahoeBool b: sb.Append(b.Value ? "true" : "false"); break;
            case TahoeInt { FitsInt64: true } i:
                Span<char> digits = stackalloc char[20];
                i.Int64.TryFormat(digits, out var written, default, CultureInfo.InvariantCulture);
                sb.Append(digits[..written]);
                break;
            case TahoeInt i: sb.Append(i.Digits); break;
            case TahoeFloat f:
                if (double.IsFinite(f.Value))
                {
                    AppendFloatRepr(sb, f.Value);
                }
                else
                {
                    sb.Append("{\"$numberDouble\":\"");
                    AppendFloatRepr(sb, f.Value);
                    sb.Append("\"}");
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
        var i = 0;
        while (true)
        {
            var run = s.AsSpan(i).IndexOfAny(Attention);
            if (run < 0)
            {
                sb.Append(s.AsSpan(i));
                break;
            }

            sb.Append(s.AsSpan(i, run));
            i += run;
            var c = s[i];
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    var lone = (char.IsHighSurrogate(c) && (i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1])))
                               || (char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(s[i - 1])));
                    if (c < ' ' || c == '\u007f' || lone || c == '\u2028' || c == '\u2029')
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }

            i++;
        }

        sb.Append('"');
    }

    private static void AppendFloatRepr(StringBuilder sb, double value)
    {
        Span<byte> ascii = stackalloc byte[PythonText.MaxFloatLength];
        var length = PythonText.WriteFloatRepr(value, ascii);
        Span<char> chars = stackalloc char[PythonText.MaxFloatLength];
        for (var k = 0; k < length; k++)
        {
            chars[k] = (char)ascii[k];
        }

        sb.Append(chars[..length]);
    }

    private static string AttentionChars()
    {
        var chars = new StringBuilder();
        for (var c = '\0'; c < ' '; c++)
        {
            chars.Append(c);
        }

        chars.Append("\"\\\u007f\u2028\u2029");
        for (var c = '\ud800'; c <= '\udfff'; c++)
        {
            chars.Append(c);
        }

        return chars.ToString();
    }
}
