using System.Globalization;
using System.Numerics;
using System.Text;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>
/// The straightforward implementation <see cref="PythonJson"/> replaced (a string per document, a list and a set per
/// object, a StringBuilder per escaped string), kept as the reference its property tests compare with.
/// A JSON reader with Python <c>json.loads</c> semantics: ints of any size stay ints, numbers with a fraction or
/// exponent are floats (overflow to infinity), <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c> are accepted, control
/// characters inside strings are rejected, <c>\u</c> escapes may produce lone surrogates. Errors name line and column.
/// </summary>
internal static class ReferencePythonJson
{
    /// <summary>Nesting deeper than this is rejected instead of exhausting the stack.</summary>
    public const int MaxDepth = 512;

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says what and where.</summary>
    public static bool TryParse(string text, DuplicateKeys duplicates, out TahoeValue value, out string error)
    {
        var reader = new Reader(text, duplicates);
        try
        {
            reader.SkipWhitespace();
            value = reader.ParseValue(0);
            reader.SkipWhitespace();
            if (!reader.AtEnd)
            {
                throw reader.Fail("extra data after the JSON value");
            }

            error = string.Empty;
            return true;
        }
        catch (JsonSyntaxException e)
        {
            value = TahoeValue.Null;
            error = e.Message;
            return false;
        }
    }

    /// <summary>Parses <paramref name="text"/> or throws <see cref="FormatException"/> naming line and column.</summary>
    public static TahoeValue Parse(string text, DuplicateKeys duplicates = DuplicateKeys.Reject) =>
        TryParse(text, duplicates, out var v, out var error) ? v : throw new FormatException(error);

    private sealed class JsonSyntaxException(string message) : Exception(message);

    private sealed class Reader(string text, DuplicateKeys duplicates)
    {
        private int _pos;

        public bool AtEnd => _pos >= text.Length;

        public void SkipWhitespace()
        {
            while (_pos < text.Length && text[_pos] is ' ' or '\t' or '\n' or '\r')
            {
                _pos++;
            }
        }

        public JsonSyntaxException Fail(string what)
        {
            var line = 1;
            var col = 1;
            for (var i = 0; i < _pos && i < text.Length; i++)
            {
                if (text[i] == '\n')
                {
                    line++;
                    col = 1;
                }
                else
                {
                    col++;
                }
            }

            return new JsonSyntaxException($"invalid JSON at line {line} column {col}: {what}");
        }

        public TahoeValue ParseValue(int depth)
        {
            if (depth > MaxDepth)
            {
                throw Fail($"nested deeper than {MaxDepth} levels");
            }

            if (AtEnd)
            {
                throw Fail("expected a value, found the end of the text");
            }

            var c = text[_pos];
            switch (c)
            {
                case '{': return ParseObject(depth);
                case '[': return ParseArray(depth);
                case '"': return TahoeValue.String(ParseString());
                case 'n': Expect("null"); return TahoeValue.Null;
                case 't': Expect("true"); return TahoeValue.True;
                case 'f': Expect("false"); return TahoeValue.False;
                case 'N': Expect("NaN"); return TahoeValue.Float(double.NaN);
                case 'I': Expect("Infinity"); return TahoeValue.Float(double.PositiveInfinity);
                case '-' when _pos + 1 < text.Length && text[_pos + 1] == 'I':
                    Expect("-Infinity");
                    return TahoeValue.Float(double.NegativeInfinity);
                default:
                    if (c == '-' || (c >= '0' && c <= '9'))
                    {
                        return ParseNumber();
                    }

                    throw Fail($"unexpected character {Describe(c)}");
            }
        }

        private static string Describe(char c) =>
            c is >= ' ' and <= '~' ? $"'{c}'" : $"U+{(int)c:X4}";

        private void Expect(string literal)
        {
            if (string.CompareOrdinal(text, _pos, literal, 0, literal.Length) != 0)
            {
                throw Fail($"unexpected character {Describe(text[_pos])}");
            }

            _pos += literal.Length;
        }

        private TahoeValue ParseObject(int depth)
        {
            _pos++; // {
            var entries = new List<KeyValuePair<string, TahoeValue>>();
            HashSet<string>? keys = duplicates == DuplicateKeys.Reject ? new(StringComparer.Ordinal) : null;
            SkipWhitespace();
            if (!AtEnd && text[_pos] == '}')
            {
                _pos++;
                return TahoeDict.Empty;
            }

            while (true)
            {
                SkipWhitespace();
                if (AtEnd || text[_pos] != '"')
                {
                    throw Fail("expected a property name in double quotes");
                }

                var keyStart = _pos;
                var key = ParseString();
                if (keys is not null && !keys.Add(key))
                {
                    _pos = keyStart;
                    throw Fail($"duplicate key {PythonText.JsonString(key)}");
                }

                SkipWhitespace();
                if (AtEnd || text[_pos] != ':')
                {
                    throw Fail("expected ':' after a property name");
                }

                _pos++;
                SkipWhitespace();
                entries.Add(new(key, ParseValue(depth + 1)));
                SkipWhitespace();
                if (AtEnd)
                {
                    throw Fail("unterminated object");
                }

                if (text[_pos] == ',')
                {
                    _pos++;
                    continue;
                }

                if (text[_pos] == '}')
                {
                    _pos++;
                    return TahoeDict.From(entries);
                }

                throw Fail("expected ',' or '}' in an object");
            }
        }

        private TahoeValue ParseArray(int depth)
        {
            _pos++; // [
            var items = new List<TahoeValue>();
            SkipWhitespace();
            if (!AtEnd && text[_pos] == ']')
            {
                _pos++;
                return TahoeValue.List(items);
            }

            while (true)
            {
                SkipWhitespace();
                items.Add(ParseValue(depth + 1));
                SkipWhitespace();
                if (AtEnd)
                {
                    throw Fail("unterminated array");
                }

                if (text[_pos] == ',')
                {
                    _pos++;
                    continue;
                }

                if (text[_pos] == ']')
                {
                    _pos++;
                    return TahoeValue.List(items);
                }

                throw Fail("expected ',' or ']' in an array");
            }
        }

        private string ParseString()
        {
            _pos++; // opening quote
            var start = _pos;
            // Fast path: no escapes.
            while (_pos < text.Length)
            {
                var c = text[_pos];
                if (c == '"')
                {
                    var s = text.Substring(start, _pos - start);
                    _pos++;
                    return s;
                }

                if (c == '\\' || c < ' ')
                {
                    break;
                }

                _pos++;
            }

            var sb = new StringBuilder();
            sb.Append(text, start, _pos - start);
            while (true)
            {
                if (AtEnd)
                {
                    throw Fail("unterminated string");
                }

                var c = text[_pos];
                if (c == '"')
                {
                    _pos++;
                    return sb.ToString();
                }

                if (c < ' ')
                {
                    throw Fail($"control character {Describe(c)} inside a string (escape it)");
                }

                if (c != '\\')
                {
                    sb.Append(c);
                    _pos++;
                    continue;
                }

                _pos++;
                if (AtEnd)
                {
                    throw Fail("unterminated escape in a string");
                }

                var e = text[_pos++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (_pos + 4 > text.Length ||
                            !ushort.TryParse(text.AsSpan(_pos, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                        {
                            _pos -= 2;
                            throw Fail("invalid \\u escape (expected four hex digits)");
                        }

                        sb.Append((char)code);
                        _pos += 4;
                        break;
                    default:
                        _pos -= 2;
                        throw Fail($"invalid escape '\\{e}'");
                }
            }
        }

        private TahoeValue ParseNumber()
        {
            var start = _pos;
            if (text[_pos] == '-')
            {
                _pos++;
            }

            if (AtEnd || !char.IsAsciiDigit(text[_pos]))
            {
                throw Fail("expected digits after '-'");
            }

            if (text[_pos] == '0')
            {
                _pos++;
            }
            else
            {
                while (!AtEnd && char.IsAsciiDigit(text[_pos]))
                {
                    _pos++;
                }
            }

            var isFloat = false;
            if (!AtEnd && text[_pos] == '.' && _pos + 1 < text.Length && char.IsAsciiDigit(text[_pos + 1]))
            {
                isFloat = true;
                _pos++;
                while (!AtEnd && char.IsAsciiDigit(text[_pos]))
                {
                    _pos++;
                }
            }

            if (!AtEnd && text[_pos] is 'e' or 'E')
            {
                var save = _pos;
                _pos++;
                if (!AtEnd && text[_pos] is '+' or '-')
                {
                    _pos++;
                }

                if (!AtEnd && char.IsAsciiDigit(text[_pos]))
                {
                    isFloat = true;
                    while (!AtEnd && char.IsAsciiDigit(text[_pos]))
                    {
                        _pos++;
                    }
                }
                else
                {
                    _pos = save; // Python: the number ends before the 'e'; what follows is extra data.
                }
            }

            var span = text.AsSpan(start, _pos - start);
            if (isFloat)
            {
                // double.Parse rounds correctly and overflows to ±Infinity like Python's float().
                return TahoeValue.Float(double.Parse(span, NumberStyles.Float, CultureInfo.InvariantCulture));
            }

            if (span.Length <= 18)
            {
                return TahoeValue.Int(long.Parse(span, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
            }

            return TahoeValue.Int(BigInteger.Parse(span, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
        }
    }
}
