using System.Globalization;
using System.Numerics;

namespace Cybexp.Report.Core.Time;

/// <summary>
/// The number syntaxes of Python's <c>float(str)</c> and <c>int(str)</c>, which the original
/// applies to <c>from</c>/<c>to</c> and to the count of <c>last</c>.
/// </summary>
/// <remarks>
/// Both strip surrounding whitespace, take one optional sign and allow single underscores
/// between digits (<c>1_000</c>). <c>float</c> also takes a fraction, an exponent and the words
/// <c>inf</c>, <c>infinity</c> and <c>nan</c> in any case. Only ASCII digits are read; the
/// caller maps other decimal digits to ASCII first.
/// </remarks>
internal static class PythonNumber
{
    /// <summary>Python <c>float(text)</c>: false where Python raises ValueError.</summary>
    /// <remarks>Values beyond the double range become infinities, as in Python.</remarks>
    public static bool TryParseFloat(string text, out double value)
    {
        value = 0;
        var s = StripPythonWhitespace(text);
        if (s.Length == 0)
        {
            return false;
        }

        var sign = 1.0;
        var body = s;
        if (body[0] is '+' or '-')
        {
            sign = body[0] == '-' ? -1.0 : 1.0;
            body = body[1..];
        }

        if (body.Equals("inf", StringComparison.OrdinalIgnoreCase)
            || body.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = sign * double.PositiveInfinity;
            return true;
        }

        if (body.Equals("nan", StringComparison.OrdinalIgnoreCase))
        {
            value = double.NaN;
            return true;
        }

        if (!IsDecimalLiteral(body))
        {
            return false;
        }

        // .NET's parser rounds correctly (IEEE 754), overflows to infinity and underflows to
        // zero, which is what CPython does.
        value = sign * double.Parse(body.Replace("_", "", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture);
        return true;
    }

    /// <summary>Python <c>int(text)</c> in base 10: false where Python raises ValueError.</summary>
    public static bool TryParseInt(string text, out BigInteger value)
    {
        value = BigInteger.Zero;
        var s = StripPythonWhitespace(text);
        if (s.Length == 0)
        {
            return false;
        }

        var negative = false;
        if (s[0] is '+' or '-')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (!IsDigitRun(s, 0, out var end) || end != s.Length)
        {
            return false;
        }

        value = BigInteger.Parse(s.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture);
        if (negative)
        {
            value = -value;
        }

        return true;
    }

    /// <summary>Python <c>str.strip()</c> without arguments.</summary>
    public static string StripPythonWhitespace(string text)
    {
        var start = 0;
        var end = text.Length;
        while (start < end && IsPythonSpace(text[start]))
        {
            start++;
        }

        while (end > start && IsPythonSpace(text[end - 1]))
        {
            end--;
        }

        return text[start..end];
    }

    /// <summary>Python <c>str.isspace()</c> for one UTF-16 unit.</summary>
    public static bool IsPythonSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';

    // digits ["." [digits]] | "." digits, then optional exponent; underscores only between digits.
    private static bool IsDecimalLiteral(string s)
    {
        var i = 0;
        var hasIntegerDigits = IsDigitRun(s, i, out var afterInteger);
        i = hasIntegerDigits ? afterInteger : i;
        var hasFractionDigits = false;
        if (i < s.Length && s[i] == '.')
        {
            i++;
            if (IsDigitRun(s, i, out var afterFraction))
            {
                hasFractionDigits = true;
                i = afterFraction;
            }
        }

        if (!hasIntegerDigits && !hasFractionDigits)
        {
            return false;
        }

        if (i < s.Length && s[i] is 'e' or 'E')
        {
            i++;
            if (i < s.Length && s[i] is '+' or '-')
            {
                i++;
            }

            if (!IsDigitRun(s, i, out var afterExponent))
            {
                return false;
            }

            i = afterExponent;
        }

        return i == s.Length;
    }

    // A run of ASCII digits starting at `start` where each underscore sits between two digits.
    private static bool IsDigitRun(string s, int start, out int end)
    {
        end = start;
        if (start >= s.Length || !char.IsAsciiDigit(s[start]))
        {
            return false;
        }

        var i = start + 1;
        while (i < s.Length)
        {
            if (char.IsAsciiDigit(s[i]))
            {
                i++;
            }
            else if (s[i] == '_' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1]))
            {
                i += 2;
            }
            else
            {
                break;
            }
        }

        end = i;
        return true;
    }
}
