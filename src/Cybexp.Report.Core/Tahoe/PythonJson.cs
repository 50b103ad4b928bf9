using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>What to do with a key that appears twice in one JSON object.</summary>
public enum DuplicateKeys
{
    /// <summary>Python's <c>json.loads</c>: the last value wins.</summary>
    LastWins,
    /// <summary>Reject the text: a stored document with a repeated key is ambiguous.</summary>
    Reject,
}

/// <summary>
/// A JSON reader with Python <c>json.loads</c> semantics: ints of any size stay ints, numbers with a fraction or
/// exponent are floats (overflow to infinity), <c>NaN</c>/<c>Infinity</c>/<c>-Infinity</c> are accepted, control
/// characters inside strings are rejected, <c>\u</c> escapes may produce lone surrogates. Errors name line and column.
/// </summary>
/// <remarks>
/// Built for reading many documents: the members of the objects and arrays being read are collected on per-thread
/// stacks (no list or set per object), each value array is allocated once at its final size, and object keys and
/// short string values are taken from a small per-thread cache of recent strings instead of being allocated again
/// (<see cref="RecentStrings"/>). Neither changes a parsed value.
/// </remarks>
public static class PythonJson
{
    /// <summary>Nesting deeper than this is rejected instead of exhausting the stack.</summary>
    public const int MaxDepth = 512;

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says what and where.</summary>
    public static bool TryParse(string text, DuplicateKeys duplicates, out TahoeValue value, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text.AsSpan(), duplicates, out value, out error);
    }

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="error"/> says what and where.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, DuplicateKeys duplicates, out TahoeValue value, out string error) =>
        TryParse(text, duplicates, out value, out error, out _);

    /// <summary>
    /// As <see cref="TryParse(ReadOnlySpan{char}, DuplicateKeys, out TahoeValue, out string)"/>, and says whether
    /// <paramref name="text"/> is exactly what <see cref="TahoeJsonWriter.Write"/> writes for the value
    /// (<paramref name="verbatim"/>): no blanks outside strings, no escapes, no character the writer would escape
    /// (DEL, U+2028, U+2029, surrogates), every float spelled as its repr, no <c>-0</c>, no NaN or Infinity
    /// literal, no repeated key. False only costs the caller a serialisation; true must never be wrong.
    /// </summary>
    internal static bool TryParse(ReadOnlySpan<char> text, DuplicateKeys duplicates, out TahoeValue value, out string error, out bool verbatim)
    {
        var scratch = Scratch.Rent();
        var reader = new Reader(text, duplicates, scratch);
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
            verbatim = reader.Verbatim;
            return true;
        }
        catch (JsonSyntaxException e)
        {
            value = TahoeValue.Null;
            error = e.Message;
            verbatim = false;
            return false;
        }
        finally
        {
            Scratch.Return(scratch);
        }
    }

    /// <summary>Parses <paramref name="text"/> or throws <see cref="FormatException"/> naming line and column.</summary>
    public static TahoeValue Parse(string text, DuplicateKeys duplicates = DuplicateKeys.Reject) =>
        TryParse(text, duplicates, out var v, out var error) ? v : throw new FormatException(error);

    private static readonly TahoeList EmptyList = new([]);

    private sealed class JsonSyntaxException(string message) : Exception(message);

    /// <summary>
    /// The members of the objects and the elements of the arrays being read, as stacks shared by every nesting level
    /// (a level pushes above its parent's items and pops its own when it closes), and a buffer for escaped strings.
    /// One per thread, handed out by <see cref="Rent"/>.
    /// </summary>
    private sealed class Scratch
    {
        // Stacks grown beyond this are not kept for the next text.
        private const int MaxKept = 1 << 16;

        [ThreadStatic]
        private static Scratch? t_cached;

        public KeyValuePair<string, TahoeValue>[] Entries = new KeyValuePair<string, TahoeValue>[64];
        public int EntryCount;
        public TahoeValue[] Items = new TahoeValue[64];
        public int ItemCount;
        public char[] Chars = new char[256];
        public RecentStrings Strings = new();

        public static Scratch Rent()
        {
            var s = t_cached ?? new Scratch();
            t_cached = null;
            return s;
        }

        public static void Return(Scratch s)
        {
            // After a failure the stacks may hold values above zero: drop them so they can be collected.
            Array.Clear(s.Entries, 0, s.EntryCount);
            Array.Clear(s.Items, 0, s.ItemCount);
            s.EntryCount = 0;
            s.ItemCount = 0;
            if (s.Entries.Length > MaxKept || s.Items.Length > MaxKept || s.Chars.Length > MaxKept)
            {
                return;
            }

            t_cached = s;
        }
    }

    /// <summary>
    /// A direct-mapped cache of recently read short strings (and their <see cref="TahoeString"/> values), looked up by
    /// the characters read: documents repeat the same keys (<c>itype</c>, <c>_hash</c>, <c>_ref</c> …), the same
    /// short values (<c>itype</c>, <c>sub_type</c>, <c>category</c>, an event's <c>orgid</c>) over and over, the
    /// hashes of an event's <c>_cref</c> again in its <c>_ref</c>, and the data and hashes of popular attributes in
    /// many documents. A miss costs one hash of the characters; the string is then allocated as it would be without
    /// the cache. A value found here is shared by the documents that hold it (values are immutable), which also
    /// keeps less alive while ingest's writer holds the documents' edge lists.
    /// </summary>
    private sealed class RecentStrings
    {
        public const int MaxLength = 64;
        private const int Slots = 1024;

        private readonly string?[] _keys = new string?[Slots];
        private readonly TahoeString?[] _values = new TahoeString?[Slots];

        public string Key(ReadOnlySpan<char> chars)
        {
            ref var slot = ref _keys[Slot(chars)];
            if (slot is { } s && chars.SequenceEqual(s))
            {
                return s;
            }

            return slot = new string(chars);
        }

        public TahoeString Value(ReadOnlySpan<char> chars)
        {
            ref var slot = ref _values[Slot(chars)];
            if (slot is { } v && chars.SequenceEqual(v.Value))
            {
                return v;
            }

            return slot = new TahoeString(new string(chars));
        }

        // The length and the first and last four characters pick the slot: O(1) for any length (keys differ at their
        // ends, hex hashes everywhere). A collision only costs a miss.
        private static int Slot(ReadOnlySpan<char> chars)
        {
            ulong h = (uint)chars.Length;
            if (chars.Length >= 4)
            {
                var bytes = MemoryMarshal.AsBytes(chars);
                h ^= MemoryMarshal.Read<ulong>(bytes) * 0x9E3779B97F4A7C15ul;
                h ^= MemoryMarshal.Read<ulong>(bytes[^8..]) * 0xC2B2AE3D27D4EB4Ful;
            }
            else
            {
                foreach (var c in chars)
                {
                    h = (h ^ c) * 0x100000001B3ul;
                }
            }

            return (int)((h ^ (h >> 29) ^ (h >> 47)) & (Slots - 1));
        }
    }

    private ref struct Reader(ReadOnlySpan<char> text, DuplicateKeys duplicates, Scratch scratch)
    {
        // Characters that end the plain part of a string: the closing quote, an escape, a control character.
        private static readonly SearchValues<char> StringStops = SearchValues.Create(
            "\"\\\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f" +
            "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f");

        // Characters TahoeJsonWriter escapes that may stand unescaped in JSON text (controls cannot: they are
        // rejected). A valid surrogate pair is written as it is, but is rare enough to be left to the writer.
        private static readonly SearchValues<char> WrittenEscaped = SearchValues.Create(WrittenEscapedChars());

        private readonly ReadOnlySpan<char> _text = text;
        private int _pos;

        /// <summary>True while the text read so far is exactly what TahoeJsonWriter writes for it.</summary>
        public bool Verbatim = true;

        public readonly bool AtEnd => _pos >= _text.Length;

        public void SkipWhitespace()
        {
            var start = _pos;
            while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\n' or '\r')
            {
                _pos++;
            }

            if (_pos != start)
            {
                Verbatim = false;
            }
        }

        private static string WrittenEscapedChars()
        {
            var chars = new char[0x800 + 3];
            chars[0] = '\u007f';
            chars[1] = '\u2028';
            chars[2] = '\u2029';
            for (var c = 0; c < 0x800; c++)
            {
                chars[3 + c] = (char)(0xd800 + c);
            }

            return new string(chars);
        }

        // A run of plain (unescaped) string characters: the writer copies it as it is unless it holds one of these.
        private void CheckPlain(ReadOnlySpan<char> run)
        {
            if (Verbatim && run.ContainsAny(WrittenEscaped))
            {
                Verbatim = false;
            }
        }

        public readonly JsonSyntaxException Fail(string what)
        {
            var line = 1;
            var col = 1;
            for (var i = 0; i < _pos && i < _text.Length; i++)
            {
                if (_text[i] == '\n')
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

            var c = _text[_pos];
            switch (c)
            {
                case '{': return ParseObject(depth);
                case '[': return ParseArray(depth);
                case '"': return ParseStringValue();
                case 'n': Expect("null"); return TahoeValue.Null;
                case 't': Expect("true"); return TahoeValue.True;
                case 'f': Expect("false"); return TahoeValue.False;
                case 'N': Expect("NaN"); Verbatim = false; return TahoeValue.Float(double.NaN);
                case 'I': Expect("Infinity"); Verbatim = false; return TahoeValue.Float(double.PositiveInfinity);
                case '-' when _pos + 1 < _text.Length && _text[_pos + 1] == 'I':
                    Expect("-Infinity");
                    Verbatim = false;
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
            if (!_text[_pos..].StartsWith(literal, StringComparison.Ordinal))
            {
                throw Fail($"unexpected character {Describe(_text[_pos])}");
            }

            _pos += literal.Length;
        }

        private TahoeValue ParseObject(int depth)
        {
            _pos++; // {
            SkipWhitespace();
            if (!AtEnd && _text[_pos] == '}')
            {
                _pos++;
                return TahoeDict.Empty;
            }

            var first = scratch.EntryCount;
            HashSet<string>? many = null; // the keys, once there are too many to compare one by one
            while (true)
            {
                SkipWhitespace();
                if (AtEnd || _text[_pos] != '"')
                {
                    throw Fail("expected a property name in double quotes");
                }

                var keyStart = _pos;
                var key = ParseString(key: true);
                var at = IndexOfKey(first, key, ref many);
                if (at >= 0 && duplicates == DuplicateKeys.Reject)
                {
                    _pos = keyStart;
                    throw Fail($"duplicate key {PythonText.JsonString(key)}");
                }

                SkipWhitespace();
                if (AtEnd || _text[_pos] != ':')
                {
                    throw Fail("expected ':' after a property name");
                }

                _pos++;
                SkipWhitespace();
                var value = ParseValue(depth + 1);
                if (at >= 0)
                {
                    // Python: a repeated key keeps its first position and takes the last value.
                    scratch.Entries[at] = new(scratch.Entries[at].Key, value);
                    Verbatim = false;
                }
                else
                {
                    PushEntry(new(key, value));
                }

                SkipWhitespace();
                if (AtEnd)
                {
                    throw Fail("unterminated object");
                }

                if (_text[_pos] == ',')
                {
                    _pos++;
                    continue;
                }

                if (_text[_pos] == '}')
                {
                    _pos++;
                    var entries = scratch.Entries.AsSpan(first, scratch.EntryCount - first);
                    var dict = TahoeDict.FromDistinctKeys(entries.ToArray());
                    entries.Clear();
                    scratch.EntryCount = first;
                    return dict;
                }

                throw Fail("expected ',' or '}' in an object");
            }
        }

        // The stack position of `key` among this object's entries (from `first`), or -1; adds it to `many` when used.
        private readonly int IndexOfKey(int first, string key, ref HashSet<string>? many)
        {
            const int CompareOneByOne = 16;
            var count = scratch.EntryCount - first;
            if (count < CompareOneByOne)
            {
                var entries = scratch.Entries;
                for (var i = first; i < scratch.EntryCount; i++)
                {
                    if (string.Equals(entries[i].Key, key, StringComparison.Ordinal))
                    {
                        return i;
                    }
                }

                return -1;
            }

            if (many is null)
            {
                many = new HashSet<string>(StringComparer.Ordinal);
                for (var i = first; i < scratch.EntryCount; i++)
                {
                    many.Add(scratch.Entries[i].Key);
                }
            }

            if (many.Add(key))
            {
                return -1;
            }

            for (var i = first; i < scratch.EntryCount; i++)
            {
                if (string.Equals(scratch.Entries[i].Key, key, StringComparison.Ordinal))
                {
                    return i;
                }
            }

            return -1;
        }

        private readonly void PushEntry(KeyValuePair<string, TahoeValue> entry)
        {
            if (scratch.EntryCount == scratch.Entries.Length)
            {
                Array.Resize(ref scratch.Entries, scratch.Entries.Length * 2);
            }

            scratch.Entries[scratch.EntryCount++] = entry;
        }

        private readonly void PushItem(TahoeValue item)
        {
            if (scratch.ItemCount == scratch.Items.Length)
            {
                Array.Resize(ref scratch.Items, scratch.Items.Length * 2);
            }

            scratch.Items[scratch.ItemCount++] = item;
        }

        private TahoeValue ParseArray(int depth)
        {
            _pos++; // [
            SkipWhitespace();
            if (!AtEnd && _text[_pos] == ']')
            {
                _pos++;
                return EmptyList;
            }

            var first = scratch.ItemCount;
            while (true)
            {
                SkipWhitespace();
                PushItem(ParseValue(depth + 1));
                SkipWhitespace();
                if (AtEnd)
                {
                    throw Fail("unterminated array");
                }

                if (_text[_pos] == ',')
                {
                    _pos++;
                    continue;
                }

                if (_text[_pos] == ']')
                {
                    _pos++;
                    var items = scratch.Items.AsSpan(first, scratch.ItemCount - first);
                    var list = new TahoeList(ImmutableCollectionsMarshal.AsImmutableArray(items.ToArray()));
                    items.Clear();
                    scratch.ItemCount = first;
                    return list;
                }

                throw Fail("expected ',' or ']' in an array");
            }
        }

        private TahoeValue ParseStringValue()
        {
            var start = _pos + 1;
            var run = _text[start..].IndexOfAny(StringStops);
            if (run >= 0 && run <= RecentStrings.MaxLength && _text[start + run] == '"')
            {
                _pos = start + run + 1;
                var plain = _text.Slice(start, run);
                CheckPlain(plain);
                return scratch.Strings.Value(plain);
            }

            return new TahoeString(ParseString(key: false));
        }

        private string ParseString(bool key)
        {
            _pos++; // opening quote
            var start = _pos;

            // Fast path: no escapes.
            var run = _text[start..].IndexOfAny(StringStops);
            if (run >= 0 && _text[start + run] == '"')
            {
                _pos = start + run + 1;
                var plain = _text.Slice(start, run);
                CheckPlain(plain);
                return key && run <= RecentStrings.MaxLength ? scratch.Strings.Key(plain) : new string(plain);
            }

            // An escape (or an error): the writer spells escapes its own way, so leave the text to it.
            Verbatim = false;
            _pos = run < 0 ? _text.Length : start + run;
            var length = 0;
            Append(ref length, _text[start.._pos]);
            while (true)
            {
                if (AtEnd)
                {
                    throw Fail("unterminated string");
                }

                var c = _text[_pos];
                if (c == '"')
                {
                    _pos++;
                    return new string(scratch.Chars, 0, length);
                }

                if (c < ' ')
                {
                    throw Fail($"control character {Describe(c)} inside a string (escape it)");
                }

                if (c != '\\')
                {
                    var plainRun = _text[_pos..].IndexOfAny(StringStops);
                    var end = plainRun < 0 ? _text.Length : _pos + plainRun;
                    Append(ref length, _text[_pos..end]);
                    _pos = end;
                    continue;
                }

                _pos++;
                if (AtEnd)
                {
                    throw Fail("unterminated escape in a string");
                }

                var e = _text[_pos++];
                switch (e)
                {
                    case '"': Append(ref length, '"'); break;
                    case '\\': Append(ref length, '\\'); break;
                    case '/': Append(ref length, '/'); break;
                    case 'b': Append(ref length, '\b'); break;
                    case 'f': Append(ref length, '\f'); break;
                    case 'n': Append(ref length, '\n'); break;
                    case 'r': Append(ref length, '\r'); break;
                    case 't': Append(ref length, '\t'); break;
                    case 'u':
                        if (_pos + 4 > _text.Length ||
                            !ushort.TryParse(_text.Slice(_pos, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                        {
                            _pos -= 2;
                            throw Fail("invalid \\u escape (expected four hex digits)");
                        }

                        Append(ref length, (char)code);
                        _pos += 4;
                        break;
                    default:
                        _pos -= 2;
                        throw Fail($"invalid escape '\\{e}'");
                }
            }
        }

        private readonly void Append(ref int length, ReadOnlySpan<char> chars)
        {
            if (scratch.Chars.Length - length < chars.Length)
            {
                Array.Resize(ref scratch.Chars, Math.Max(scratch.Chars.Length * 2, length + chars.Length));
            }

            chars.CopyTo(scratch.Chars.AsSpan(length));
            length += chars.Length;
        }

        private readonly void Append(ref int length, char c)
        {
            if (length == scratch.Chars.Length)
            {
                Array.Resize(ref scratch.Chars, scratch.Chars.Length * 2);
            }

            scratch.Chars[length++] = c;
        }

        private TahoeValue ParseNumber()
        {
            var start = _pos;
            if (_text[_pos] == '-')
            {
                _pos++;
            }

            if (AtEnd || !char.IsAsciiDigit(_text[_pos]))
            {
                throw Fail("expected digits after '-'");
            }

            if (_text[_pos] == '0')
            {
                _pos++;
            }
            else
            {
                while (!AtEnd && char.IsAsciiDigit(_text[_pos]))
                {
                    _pos++;
                }
            }

            var isFloat = false;
            if (!AtEnd && _text[_pos] == '.' && _pos + 1 < _text.Length && char.IsAsciiDigit(_text[_pos + 1]))
            {
                isFloat = true;
                _pos++;
                while (!AtEnd && char.IsAsciiDigit(_text[_pos]))
                {
                    _pos++;
                }
            }

            if (!AtEnd && _text[_pos] is 'e' or 'E')
            {
                var save = _pos;
                _pos++;
                if (!AtEnd && _text[_pos] is '+' or '-')
                {
                    _pos++;
                }

                if (!AtEnd && char.IsAsciiDigit(_text[_pos]))
                {
                    isFloat = true;
                    while (!AtEnd && char.IsAsciiDigit(_text[_pos]))
                    {
                        _pos++;
                    }
                }
                else
                {
                    _pos = save; // Python: the number ends before the 'e'; what follows is extra data.
                }
            }

            var span = _text[start.._pos];
            if (isFloat)
            {
                // double.Parse rounds correctly and overflows to ±Infinity like Python's float().
                var number = double.Parse(span, NumberStyles.Float, CultureInfo.InvariantCulture);
                if (Verbatim && !IsRepr(span, number))
                {
                    Verbatim = false;
                }

                return TahoeValue.Float(number);
            }

            if (span is "-0")
            {
                Verbatim = false; // the int 0, written "0"
            }

            if (span.Length <= 18)
            {
                return TahoeValue.Int(long.Parse(span, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
            }

            return TahoeValue.Int(BigInteger.Parse(span, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
        }

        // Is `text` the writer's spelling of `number` (Python's repr; a non-finite value is written otherwise)?
        private static bool IsRepr(ReadOnlySpan<char> text, double number)
        {
            if (text.Length > PythonText.MaxFloatLength)
            {
                return false;
            }

            Span<byte> repr = stackalloc byte[PythonText.MaxFloatLength];
            var length = PythonText.WriteFloatRepr(number, repr);
            if (length != text.Length || !double.IsFinite(number))
            {
                return false;
            }

            for (var i = 0; i < length; i++)
            {
                if (repr[i] != text[i])
                {
                    return false;
                }
            }

            return true;
        }
    }
}
