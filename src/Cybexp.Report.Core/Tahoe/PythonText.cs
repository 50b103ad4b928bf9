using System.Buffers;
using System.Globalization;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>Python text behaviour the canonical form depends on: <c>str.strip()</c>, <c>json.dumps</c> of a str, <c>repr(float)</c>.</summary>
public static class PythonText
{
    private static readonly char[] HexDigits = "0123456789abcdef".ToCharArray();

    // Printable ASCII except the quote and the backslash: the characters json.dumps writes unescaped.
    private static readonly SearchValues<char> Plain =
        SearchValues.Create(" !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    // Extra chars json.dumps needs for each ASCII char beyond the char itself: 1 for a short escape, 5 for \uXXXX;
    // zero marks a char written as it is.
    private static readonly byte[] ExtraLength = BuildExtraLength();

    private static byte[] BuildExtraLength()
    {
        var table = new byte[0x80];
        for (var c = 0; c < 0x80; c++)
        {
            table[c] = c switch
            {
                '"' or '\\' or '\n' or '\r' or '\t' or '\b' or '\f' => 1,
                < 0x20 or 0x7f => 5,
                _ => 0,
            };
        }

        return table;
    }

    /// <summary>Python <c>str.isspace()</c> for one UTF-16 unit (all Python whitespace lies in the BMP).</summary>
    public static bool IsSpace(char c) => c switch
    {
        >= '\u0009' and <= '\u000d' => true,
        >= '\u001c' and <= '\u0020' => true,
        '\u0085' or '\u00a0' or '\u1680' => true,
        >= '\u2000' and <= '\u200a' => true,
        '\u2028' or '\u2029' or '\u202f' or '\u205f' or '\u3000' => true,
        _ => false,
    };

    /// <summary>Python <c>str.strip()</c> with no arguments.</summary>
    public static string Strip(string s)
    {
        var stripped = Strip(s.AsSpan());
        return stripped.Length == s.Length ? s : stripped.ToString();
    }

    /// <summary>Python <c>str.strip()</c> with no arguments, as a slice of <paramref name="s"/>.</summary>
    internal static ReadOnlySpan<char> Strip(ReadOnlySpan<char> s)
    {
        var start = 0;
        var end = s.Length;
        while (start < end && IsSpace(s[start]))
        {
            start++;
        }

        while (end > start && IsSpace(s[end - 1]))
        {
            end--;
        }

        return s[start..end];
    }

    /// <summary>Appends Python's <c>json.dumps(s)</c> (ensure_ascii): quotes, short escapes, lowercase <c>\uXXXX</c> for the rest.</summary>
    public static void AppendJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        var runStart = 0;
        var span = s.AsSpan();
        while (true)
        {
            // Jump over the run of characters written as they are (vectorised search).
            var next = span[runStart..].IndexOfAnyExcept(Plain);
            if (next < 0)
            {
                break;
            }

            var i = runStart + next;
            var c = s[i];
            sb.Append(s, runStart, i - runStart);
            runStart = i + 1;
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    // Non-BMP characters are already a surrogate pair here, which is exactly what Python writes.
                    sb.Append("\\u")
                      .Append(HexDigits[(c >> 12) & 0xf])
                      .Append(HexDigits[(c >> 8) & 0xf])
                      .Append(HexDigits[(c >> 4) & 0xf])
                      .Append(HexDigits[c & 0xf]);
                    break;
            }
        }

        sb.Append(s, runStart, s.Length - runStart);
        sb.Append('"');
    }

    /// <summary>Writes <see cref="JsonString"/> of <paramref name="s"/> into <paramref name="destination"/>; returns the chars written.</summary>
    internal static int WriteJsonString(ReadOnlySpan<char> s, Span<char> destination)
    {
        destination[0] = '"';
        var j = 1;

        // Copy the leading plain run in one go (vectorised search), then go char by char: canonical texts nest
        // escapes densely, where a per-char table lookup beats repeated searches.
        var start = s.IndexOfAnyExcept(Plain);
        if (start < 0)
        {
            start = s.Length;
        }

        s[..start].CopyTo(destination[1..]);
        j += start;
        for (var i = start; i < s.Length; i++)
        {
            var c = s[i];
            if (c < 0x80 && ExtraLength[c] == 0)
            {
                destination[j++] = c;
                continue;
            }

            destination[j++] = '\\';
            switch (c)
            {
                case '"': destination[j++] = '"'; break;
                case '\\': destination[j++] = '\\'; break;
                case '\n': destination[j++] = 'n'; break;
                case '\r': destination[j++] = 'r'; break;
                case '\t': destination[j++] = 't'; break;
                case '\b': destination[j++] = 'b'; break;
                case '\f': destination[j++] = 'f'; break;
                default:
                    destination[j++] = 'u';
                    destination[j++] = HexDigits[(c >> 12) & 0xf];
                    destination[j++] = HexDigits[(c >> 8) & 0xf];
                    destination[j++] = HexDigits[(c >> 4) & 0xf];
                    destination[j++] = HexDigits[c & 0xf];
                    break;
            }
        }

        destination[j++] = '"';
        return j;
    }

    /// <summary>Python's <c>json.dumps(s)</c> for a str.</summary>
    public static string JsonString(string s)
    {
        if (!s.AsSpan().ContainsAnyExcept(Plain))
        {
            return string.Concat("\"", s, "\"");
        }

        var buffer = ArrayPool<char>.Shared.Rent((s.Length * 6) + 2);
        try
        {
            var length = WriteJsonString(s, buffer);
            return new string(buffer, 0, length);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>The most bytes <see cref="WriteFloatRepr"/> and <see cref="WriteFloatStr"/> write (e.g. <c>-2.2250738585072014e-308</c>).</summary>
    internal const int MaxFloatLength = 32;

    /// <summary>
    /// Python's <c>str(float)</c>: as <see cref="FloatRepr"/> for finite values, but <c>nan</c>, <c>inf</c> and
    /// <c>-inf</c> (not json.dumps' <c>NaN</c>/<c>Infinity</c>). The event unique text uses this form.
    /// </summary>
    public static string FloatStr(double value) =>
        double.IsNaN(value) ? "nan" : double.IsInfinity(value) ? (value > 0 ? "inf" : "-inf") : FloatRepr(value);

    /// <summary>
    /// Python's <c>repr(float)</c> (also <c>str(float)</c> and <c>json.dumps</c> of a float): shortest round-trip digits,
    /// exponent form when the decimal exponent is below -4 or at least 16, <c>.0</c> on integral values,
    /// <c>NaN</c>, <c>Infinity</c>, <c>-Infinity</c> as json.dumps writes them.
    /// </summary>
    public static string FloatRepr(double value)
    {
        Span<byte> text = stackalloc byte[MaxFloatLength];
        var length = WriteFloatRepr(value, text);
        return Encoding.ASCII.GetString(text[..length]);
    }

    /// <summary>Writes <see cref="FloatStr"/> as ASCII into <paramref name="destination"/> (at least <see cref="MaxFloatLength"/> bytes); returns the bytes written.</summary>
    internal static int WriteFloatStr(double value, Span<byte> destination)
    {
        if (double.IsNaN(value))
        {
            return Copy("nan"u8, destination);
        }

        if (double.IsInfinity(value))
        {
            return Copy(value > 0 ? "inf"u8 : "-inf"u8, destination);
        }

        return WriteFloatRepr(value, destination);
    }

    /// <summary>Writes <see cref="FloatRepr"/> as ASCII into <paramref name="destination"/> (at least <see cref="MaxFloatLength"/> bytes); returns the bytes written.</summary>
    internal static int WriteFloatRepr(double value, Span<byte> destination)
    {
        if (double.IsNaN(value))
        {
            return Copy("NaN"u8, destination);
        }

        if (double.IsInfinity(value))
        {
            return Copy(value > 0 ? "Infinity"u8 : "-Infinity"u8, destination);
        }

        Span<byte> digitBuffer = stackalloc byte[MaxFloatLength];
        if (TryShortDecimal(value, digitBuffer, out var shortLength, out var shortDecpt))
        {
            var k = 0;
            if (double.IsNegative(value))
            {
                destination[k++] = (byte)'-';
            }

            return k + Layout(digitBuffer[..shortLength], shortDecpt, destination[k..]);
        }

        // .NET "R" yields the shortest round-trip digits (e.g. 1E+16, 1.5E-07, 123.25); re-lay them out as Python does.
        Span<byte> r = stackalloc byte[MaxFloatLength];
        if (!value.TryFormat(r, out var rLength, "R", CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException("a double formats in at most 32 characters");
        }

        ReadOnlySpan<byte> body = r[..rLength];
        var j = 0;
        if (body[0] == '-')
        {
            destination[j++] = (byte)'-';
            body = body[1..];
        }

        var exp10 = 0;
        var mantissa = body;
        var ePos = body.IndexOfAny((byte)'E', (byte)'e');
        if (ePos >= 0)
        {
            mantissa = body[..ePos];
            var exponent = body[(ePos + 1)..];
            var negativeExponent = exponent[0] == '-';
            if (exponent[0] is (byte)'-' or (byte)'+')
            {
                exponent = exponent[1..];
            }

            foreach (var d in exponent)
            {
                exp10 = (exp10 * 10) + (d - '0');
            }

            exp10 = negativeExponent ? -exp10 : exp10;
        }

        // All significant digits, leading and trailing zeros dropped; value = 0.DIGITS * 10^decpt.
        var dot = mantissa.IndexOf((byte)'.');
        var intPart = dot >= 0 ? mantissa[..dot] : mantissa;
        var fracPart = dot >= 0 ? mantissa[(dot + 1)..] : [];
        intPart.CopyTo(digitBuffer);
        fracPart.CopyTo(digitBuffer[intPart.Length..]);
        ReadOnlySpan<byte> digits = digitBuffer[..(intPart.Length + fracPart.Length)];
        var leadingZeros = digits.IndexOfAnyExcept((byte)'0');
        if (leadingZeros < 0)
        {
            return j + Copy("0.0"u8, destination[j..]);
        }

        digits = digits[leadingZeros..];
        var decpt = intPart.Length + exp10 - leadingZeros;
        digits = digits[..(digits.LastIndexOfAnyExcept((byte)'0') + 1)];

        return j + Layout(digits, decpt, destination[j..]);
    }

    // Python's layout of value = 0.DIGITS * 10^decpt (DIGITS without leading or trailing zeros, sign written already):
    // exponent form when the decimal exponent (decpt - 1) is below -4 or at least 16.
    private static int Layout(ReadOnlySpan<byte> digits, int decpt, Span<byte> destination)
    {
        var j = 0;
        if (decpt - 1 < -4 || decpt - 1 >= 16)
        {
            destination[j++] = digits[0];
            if (digits.Length > 1)
            {
                destination[j++] = (byte)'.';
                j += Copy(digits[1..], destination[j..]);
            }

            var e = decpt - 1;
            destination[j++] = (byte)'e';
            destination[j++] = e < 0 ? (byte)'-' : (byte)'+';
            var ea = Math.Abs(e);
            if (ea < 10)
            {
                destination[j++] = (byte)'0';
            }

            ea.TryFormat(destination[j..], out var eLength, default, CultureInfo.InvariantCulture);
            j += eLength;
        }
        else if (decpt <= 0)
        {
            j += Copy("0."u8, destination[j..]);
            destination.Slice(j, -decpt).Fill((byte)'0');
            j += -decpt;
            j += Copy(digits, destination[j..]);
        }
        else if (decpt >= digits.Length)
        {
            j += Copy(digits, destination[j..]);
            destination.Slice(j, decpt - digits.Length).Fill((byte)'0');
            j += decpt - digits.Length;
            j += Copy(".0"u8, destination[j..]);
        }
        else
        {
            j += Copy(digits[..decpt], destination[j..]);
            destination[j++] = (byte)'.';
            j += Copy(digits[decpt..], destination[j..]);
        }

        return j;
    }

    // Powers of ten that are exact doubles.
    private static readonly double[] ExactPowersOf10 =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    // The shortest digits of a value with at most 15 significant decimal digits (timestamps, prices, most typed-in
    // numbers), without the general shortest-digits search: scaled to a 15-digit integer M, the value must be exactly
    // M / 10^K as a double. Two decimals of at most 15 significant digits never map to the same double, so M's
    // digits (trailing zeros dropped) are the only ones that short, hence the shortest. False means "use the
    // general path", never a wrong answer.
    private static bool TryShortDecimal(double value, Span<byte> digits, out int length, out int decpt)
    {
        length = 0;
        decpt = 0;
        var magnitude = Math.Abs(value);
        if (!(magnitude >= 1e-4 && magnitude < 1e15))
        {
            return false;
        }

        var scalePower = 14 - (int)Math.Floor(Math.Log10(magnitude));
        if (scalePower is < 0 or > 22)
        {
            return false;
        }

        var scale = ExactPowersOf10[scalePower];
        var m = Math.Round(magnitude * scale);
        if (m >= 1e15 || m < 1 || m / scale != magnitude)
        {
            return false;
        }

        ((long)m).TryFormat(digits, out var written, default, CultureInfo.InvariantCulture);
        decpt = written - scalePower;
        length = digits[..written].LastIndexOfAnyExcept((byte)'0') + 1;
        return true;
    }


    private static int Copy(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        source.CopyTo(destination);
        return source.Length;
    }
}
