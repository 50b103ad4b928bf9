using System.Globalization;
using System.Text;

namespace Cybexp.Report.Core.Crypto;

/// <summary>
/// Python's <c>repr(bytes)</c> text, e.g. <c>b'\x8f\x01A'</c>: the form in which the original system stores
/// encrypted qdata in a TDQL document. <see cref="Parse"/> reads it strictly and never evaluates anything;
/// <see cref="Format"/> writes exactly what Python's <c>repr</c> writes.
/// </summary>
/// <remarks>
/// Accepted: a lowercase <c>b</c> prefix, then a single- or double-quoted body of ASCII characters with the
/// escapes Python accepts in bytes literals: <c>\\ \' \" \a \b \f \n \r \t \v</c>, <c>\xhh</c> (two hex digits,
/// either case), octal <c>\o</c>, <c>\oo</c>, <c>\ooo</c> up to <c>\377</c>, and backslash-newline (which yields
/// nothing). Rejected: non-ASCII characters, control characters other than tab, unescaped line breaks, unknown
/// escapes (Python keeps those backslashes with a warning; a stored repr never contains them), octal escapes above
/// <c>\377</c>, other prefixes (<c>rb</c>, <c>B</c>), implicit concatenation and surrounding whitespace.
/// Error positions are zero-based character offsets into the text.
/// </remarks>
public static class PythonBytesLiteral
{
    /// <summary>Reads a bytes literal; on failure the message names the position and what was expected.</summary>
    public static CryptoResult<byte[]> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0 || text[0] != 'b')
        {
            return Fail(0, "expected 'b' to start a bytes literal" + Found(text, 0));
        }

        if (text.Length < 2 || (text[1] != '\'' && text[1] != '"'))
        {
            return Fail(1, "expected a quote (' or \") after b" + Found(text, 1));
        }

        char quote = text[1];
        // The body never decodes to more bytes than it has characters.
        var output = new byte[text.Length - 2];
        int written = 0;
        int i = 2;
        while (true)
        {
            if (i >= text.Length)
            {
                return Fail(i, $"unterminated bytes literal: expected the closing {quote}");
            }

            char c = text[i];
            if (c == quote)
            {
                if (i != text.Length - 1)
                {
                    return Fail(i + 1, "expected the end of the text after the closing quote" + Found(text, i + 1));
                }

                return CryptoResult<byte[]>.Success(output.AsSpan(0, written).ToArray());
            }

            if (c > '\x7f')
            {
                return Fail(i, $"non-ASCII character U+{(int)c:X4}; bytes literals hold only ASCII characters (write \\xhh)");
            }

            if (c is '\n' or '\r')
            {
                return Fail(i, $"unterminated bytes literal: line break before the closing {quote}");
            }

            if ((c < ' ' && c != '\t') || c == '\x7f')
            {
                return Fail(i, $"control character U+{(int)c:X4}; expected it escaped as \\x{(int)c:x2}");
            }

            if (c != '\\')
            {
                output[written++] = (byte)c;
                i++;
                continue;
            }

            int e = i + 1;
            if (e >= text.Length)
            {
                return Fail(e, $"unterminated bytes literal: expected an escape character and the closing {quote}");
            }

            char escape = text[e];
            switch (escape)
            {
                case '\\' or '\'' or '"':
                    output[written++] = (byte)escape;
                    i = e + 1;
                    break;
                case 'a': output[written++] = 0x07; i = e + 1; break;
                case 'b': output[written++] = 0x08; i = e + 1; break;
                case 'f': output[written++] = 0x0c; i = e + 1; break;
                case 'n': output[written++] = 0x0a; i = e + 1; break;
                case 'r': output[written++] = 0x0d; i = e + 1; break;
                case 't': output[written++] = 0x09; i = e + 1; break;
                case 'v': output[written++] = 0x0b; i = e + 1; break;
                case '\n':
                    i = e + 1;
                    break;
                case '\r':
                    // Backslash followed by CR LF or a lone CR is a line continuation too.
                    i = e + 1 < text.Length && text[e + 1] == '\n' ? e + 2 : e + 1;
                    break;
                case 'x':
                    if (e + 2 >= text.Length || !IsHex(text[e + 1]) || !IsHex(text[e + 2]))
                    {
                        int bad = e + 1 < text.Length && IsHex(text[e + 1]) ? e + 2 : e + 1;
                        return Fail(bad, "expected two hex digits after \\x" + Found(text, bad));
                    }

                    output[written++] = (byte)((HexValue(text[e + 1]) << 4) | HexValue(text[e + 2]));
                    i = e + 3;
                    break;
                case >= '0' and <= '7':
                    int value = 0;
                    int end = e;
                    while (end < text.Length && end < e + 3 && text[end] is >= '0' and <= '7')
                    {
                        value = (value * 8) + (text[end] - '0');
                        end++;
                    }

                    if (value > 0xff)
                    {
                        return Fail(i, $"octal escape \\{text[e..end]} is out of range; expected at most \\377");
                    }

                    output[written++] = (byte)value;
                    i = end;
                    break;
                default:
                    return Fail(e, "unsupported escape character " + Describe(escape) + " after a backslash"
                        + "; expected one of \\\\ \\' \\\" \\a \\b \\f \\n \\r \\t \\v \\xhh, an octal escape or a line continuation");
            }
        }
    }

    /// <summary>Python's <c>repr(bytes)</c> of <paramref name="bytes"/>, character for character.</summary>
    public static string Format(ReadOnlySpan<byte> bytes)
    {
        char quote = QuoteFor(bytes);
        int length = 3;
        foreach (byte b in bytes)
        {
            length += EscapedLength(b, quote);
        }

        // Two passes (measure, then write) keep a 10 MB blob to one exact allocation.
        return string.Create(length, bytes, static (output, bytes) =>
        {
            char quote = QuoteFor(bytes);
            output[0] = 'b';
            output[1] = quote;
            int at = 2;
            foreach (byte b in bytes)
            {
                switch (EscapedLength(b, quote))
                {
                    case 1:
                        output[at++] = (char)b;
                        break;
                    case 2:
                        output[at++] = '\\';
                        output[at++] = b switch { (byte)'\t' => 't', (byte)'\n' => 'n', (byte)'\r' => 'r', _ => (char)b };
                        break;
                    default:
                        output[at++] = '\\';
                        output[at++] = 'x';
                        output[at++] = LowerHex[b >> 4];
                        output[at++] = LowerHex[b & 0xf];
                        break;
                }
            }

            output[at] = quote;
        });
    }

    /// <summary>Python uses double quotes only when the bytes contain ' and no ".</summary>
    private static char QuoteFor(ReadOnlySpan<byte> bytes) =>
        bytes.Contains((byte)'\'') && !bytes.Contains((byte)'"') ? '"' : '\'';

    private const string LowerHex = "0123456789abcdef";

    /// <summary>1 for a literal character, 2 for a backslash escape (<c>\\ \t \n \r</c>, the quote), 4 for <c>\xhh</c>.</summary>
    private static int EscapedLength(byte b, char quote) => b switch
    {
        (byte)'\\' or (byte)'\t' or (byte)'\n' or (byte)'\r' => 2,
        < 0x20 or >= 0x7f => 4,
        _ => b == quote ? 2 : 1,
    };

    private static CryptoResult<byte[]> Fail(int position, string message) =>
        CryptoResult<byte[]>.Failure(string.Create(CultureInfo.InvariantCulture, $"position {position}: {message}"));

    private static string Found(string text, int position) =>
        position < text.Length ? ", found " + Describe(text[position]) : ", found the end of the text";

    private static string Describe(char c) =>
        c is >= ' ' and < '\x7f'
            ? "'" + c + "'"
            : string.Create(CultureInfo.InvariantCulture, $"U+{(int)c:X4}");

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        _ => c - 'A' + 10,
    };
}
