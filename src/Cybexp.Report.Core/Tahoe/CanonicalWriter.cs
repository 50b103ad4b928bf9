using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Unicode;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// Writes TAHOE canonical text (see <see cref="Canonical"/>) as UTF-8 straight into one pooled buffer, without building
/// the intermediate strings of each nesting level. Canonical text is printable ASCII, so its UTF-8 form is one byte
/// per character and the unique text of an instance is its UTF-8 prefix followed by these bytes.
/// </summary>
/// <remarks>
/// <para>
/// The nested escaping: a dict value is <c>json.dumps(canonical(value))</c>, so the canonical text of a value at
/// nesting depth <c>d</c> appears escaped <c>d</c> times. Escaping printable ASCII changes only <c>"</c> and
/// <c>\</c>, each into a backslash and itself, so escaping <c>d</c> times maps such a character to
/// <c>2^d - 1</c> backslashes followed by itself and leaves every other character as it is (<see cref="Special"/>).
/// A dict's values are therefore written in place at depth + 1. A list must sort its elements' canonical strings,
/// so each element is first written at depth 0 into a scratch buffer of its list-nesting level, then the sorted,
/// de-duplicated elements are copied out escaped (<see cref="WriteEscaped"/>).
/// </para>
/// <para>One writer per thread is cached (<see cref="Rent"/>/<see cref="Return"/>); it is not thread-safe.</para>
/// </remarks>
internal sealed class CanonicalWriter
{
    // Deeper than this the text would exceed 2^30 bytes for every escaped character; refuse rather than overflow.
    private const int MaxDepth = 30;

    // Buffers above this size are not kept in the per-thread cache.
    private const int MaxCachedBuffer = 1 << 20;

    [ThreadStatic]
    private static CanonicalWriter? t_cached;

    // Printable ASCII except the quote and the backslash: the characters json.dumps writes unescaped.
    private static readonly SearchValues<char> Plain =
        SearchValues.Create(" !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    private Utf8Sink[] _scratch = [];
    private Segment[][] _segments = [];

    private CanonicalWriter()
    {
    }

    /// <summary>The text written so far.</summary>
    public Utf8Sink Output { get; } = new();

    /// <summary>Scratch arrays for composing an instance from its children.</summary>
    public CompositionScratch Composition { get; } = new();

    /// <summary>True when a prefix string held a lone surrogate, which UTF-8 cannot encode (the bytes are then unusable).</summary>
    public bool PrefixInvalid { get; private set; }

    /// <summary>A cleared writer: this thread's cached one when it is free.</summary>
    public static CanonicalWriter Rent()
    {
        var writer = t_cached ?? new CanonicalWriter();
        t_cached = null;
        writer.Output.Clear();
        writer.PrefixInvalid = false;

        // A write that threw may have left scratch levels part-filled.
        foreach (var scratch in writer._scratch)
        {
            scratch?.Clear();
        }

        return writer;
    }

    /// <summary>Gives a writer back to this thread's cache; it must not be used afterwards.</summary>
    public static void Return(CanonicalWriter writer)
    {
        if (writer.Output.Capacity > MaxCachedBuffer)
        {
            writer.Output.Release();
        }

        foreach (var s in writer._scratch)
        {
            if (s is not null && s.Capacity > MaxCachedBuffer)
            {
                s.Release();
            }
        }

        t_cached = writer;
    }

    /// <summary>Appends <paramref name="text"/> as UTF-8 (part of a unique text's prefix); null appends nothing.</summary>
    public void WriteUtf8(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        var status = Utf8.FromUtf16(text, Output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length)), out _, out var written, replaceInvalidSequences: false);
        Output.Advance(written);
        if (status != OperationStatus.Done)
        {
            PrefixInvalid = true;
        }
    }

    /// <summary>Appends Python's <c>str(float)</c> (the event timestamp in its unique text).</summary>
    public void WriteFloatStr(double value) => Output.Advance(PythonText.WriteFloatStr(value, Output.GetSpan(PythonText.MaxFloatLength)));

    /// <summary>Appends <c>canonical(value)</c>.</summary>
    public void WriteCanonical(TahoeValue value) => Write(Output, value, 0, 0);

    /// <summary>
    /// The output as an <see cref="InstanceText"/> whose canonical text starts at <paramref name="canonicalStart"/>
    /// and runs to the end: hashed (prefix and canonical text) when <paramref name="hash"/> and the prefix is
    /// encodable, and copied out as <paramref name="keep"/> says.
    /// </summary>
    public InstanceText ToInstanceText(int canonicalStart, Keep keep, bool hash)
    {
        var canonicalEnd = Output.Length;
        var digest = hash && !PrefixInvalid ? InstanceHash.OfUtf8(Output.Written) : default;
        if (keep == Keep.ChildForm)
        {
            // Make room before taking the source span: growing replaces the buffer.
            Output.GetSpan(checked(((canonicalEnd - canonicalStart) * 4) + 4));
            WriteEscaped(Output, Output.Buffer.AsSpan(canonicalStart, canonicalEnd - canonicalStart), 2);
        }

        var kept = keep == Keep.Nothing ? null : Output.Written.ToArray();
        return new InstanceText(kept, canonicalStart, canonicalEnd, !PrefixInvalid, digest);
    }

    /// <summary>Writes <c>canonical(value)</c> escaped <paramref name="depth"/> times; lists use scratch levels from <paramref name="level"/> on.</summary>
    internal void Write(Utf8Sink destination, TahoeValue value, int depth, int level)
    {
        switch (value)
        {
            case TahoeString s:
                WriteJsonString(destination, PythonText.Strip(s.Value.AsSpan()), depth);
                break;
            case TahoeDict d:
                WriteDict(destination, d, depth, level);
                break;
            case TahoeList l:
                WriteList(destination, l, depth, level);
                break;
            default:
                WriteScalar(destination, value);
                break;
        }
    }

    /// <summary>Writes <c>json.dumps(text)</c> (ensure_ascii) escaped <paramref name="depth"/> times.</summary>
    internal static void WriteJsonString(Utf8Sink destination, ReadOnlySpan<char> text, int depth)
    {
        CheckDepth(depth + 1);
        Special(destination, (byte)'"', depth);
        while (true)
        {
            // The run of characters written as they are (vectorised search, then a vectorised narrowing copy).
            var run = text.IndexOfAnyExcept(Plain);
            var plain = run < 0 ? text : text[..run];
            if (!plain.IsEmpty)
            {
                Ascii.FromUtf16(plain, destination.GetSpan(plain.Length), out var copied);
                destination.Advance(copied);
            }

            if (run < 0)
            {
                break;
            }

            var c = text[run];
            text = text[(run + 1)..];
            switch (c)
            {
                // Escaping adds a backslash before the character: one level deeper for both of them.
                case '"' or '\\':
                    Special(destination, (byte)c, depth + 1);
                    break;
                case '\n': ShortEscape(destination, (byte)'n', depth); break;
                case '\r': ShortEscape(destination, (byte)'r', depth); break;
                case '\t': ShortEscape(destination, (byte)'t', depth); break;
                case '\b': ShortEscape(destination, (byte)'b', depth); break;
                case '\f': ShortEscape(destination, (byte)'f', depth); break;
                default:
                    // Non-BMP characters are already a surrogate pair here, which is exactly what Python writes.
                    Special(destination, (byte)'\\', depth);
                    var hex = destination.GetSpan(5);
                    hex[0] = (byte)'u';
                    hex[1] = HexDigit(c >> 12);
                    hex[2] = HexDigit(c >> 8);
                    hex[3] = HexDigit(c >> 4);
                    hex[4] = HexDigit(c);
                    destination.Advance(5);
                    break;
            }
        }

        Special(destination, (byte)'"', depth);
    }

    /// <summary>
    /// Writes <paramref name="canonical"/> (printable ASCII, such as canonical text) escaped <paramref name="depth"/>
    /// times: each <c>"</c> and <c>\</c> gets <c>2^depth - 1</c> backslashes before it.
    /// </summary>
    internal static void WriteEscaped(Utf8Sink destination, ReadOnlySpan<byte> canonical, int depth)
    {
        switch (depth)
        {
            case 0:
                destination.Write(canonical);
                break;
            case 1 or 2:
                // Room for every byte escaped, plus the 4 bytes EscapeShallow may store past its last one.
                var room = destination.GetSpan(checked((canonical.Length * (1 << depth)) + 4));
                destination.Advance(EscapeShallow(canonical, room, depth == 1 ? 1u : 3u));
                break;
            default:
                CheckDepth(depth);
                var extra = (1 << depth) - 1;
                var specials = canonical.Count((byte)'"') + canonical.Count((byte)'\\');
                var output = destination.GetSpan(checked(canonical.Length + (specials * extra)));
                var j = 0;
                foreach (var c in canonical)
                {
                    if (c is (byte)'"' or (byte)'\\')
                    {
                        output.Slice(j, extra).Fill((byte)'\\');
                        j += extra;
                    }

                    output[j++] = c;
                }

                destination.Advance(j);
                break;
        }
    }

    // Escapes once (extra = 1) or twice (extra = 3): blocks of 16 bytes without a quote or backslash are copied as
    // they are; otherwise each byte goes through a branch-free step that always stores four backslashes and then
    // keeps `extra` of them only before a quote or backslash. Needs `(source.Length << depth) + 4` bytes of room.
    private static int EscapeShallow(ReadOnlySpan<byte> source, Span<byte> destination, nuint extra)
    {
        ref var src = ref MemoryMarshal.GetReference(source);
        ref var dst = ref MemoryMarshal.GetReference(destination);
        var n = (nuint)source.Length;
        nuint i = 0;
        nuint j = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var quote = Vector128.Create((byte)'"');
            var backslash = Vector128.Create((byte)'\\');
            while (i + 16 <= n)
            {
                var block = Vector128.LoadUnsafe(ref src, i);
                if (!Vector128.EqualsAny(block, quote) && !Vector128.EqualsAny(block, backslash))
                {
                    block.StoreUnsafe(ref dst, j);
                    i += 16;
                    j += 16;
                    continue;
                }

                for (var end = i + 16; i < end; i++)
                {
                    j = EscapeStep(ref dst, j, Unsafe.Add(ref src, i), extra);
                }
            }
        }

        for (; i < n; i++)
        {
            j = EscapeStep(ref dst, j, Unsafe.Add(ref src, i), extra);
        }

        return (int)j;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nuint EscapeStep(ref byte dst, nuint j, byte c, nuint extra)
    {
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref dst, j), 0x5c5c5c5cu);
        j += Unsafe.BitCast<bool, byte>((c == (byte)'"') | (c == (byte)'\\')) * extra;
        Unsafe.Add(ref dst, j) = c;
        return j + 1;
    }

    /// <summary>Writes <paramref name="c"/> (<c>"</c> or <c>\</c>) escaped <paramref name="depth"/> times: <c>2^depth - 1</c> backslashes, then itself.</summary>
    internal static void Special(Utf8Sink destination, byte c, int depth)
    {
        var length = 1 << depth;
        var output = destination.GetSpan(Math.Max(length, 4));
        switch (depth)
        {
            case 0:
                output[0] = c;
                break;
            case 1:
                output[0] = (byte)'\\';
                output[1] = c;
                break;
            case 2:
                BinaryPrimitives.WriteUInt32LittleEndian(output, 0x005c5c5cu | ((uint)c << 24));
                break;
            default:
                output[..(length - 1)].Fill((byte)'\\');
                output[length - 1] = c;
                break;
        }

        destination.Advance(length);
    }

    // The scratch buffer of list-nesting level `level` and room for `count` segments in it.
    internal (Utf8Sink Scratch, Segment[] Segments) Level(int level, int count)
    {
        if (level >= _scratch.Length)
        {
            var grown = Math.Max(4, level * 2);
            Array.Resize(ref _scratch, grown);
            Array.Resize(ref _segments, grown);
        }

        var scratch = _scratch[level] ??= new Utf8Sink();
        var segments = _segments[level];
        if (segments is null || segments.Length < count)
        {
            segments = _segments[level] = new Segment[Math.Max(count, 16)];
        }

        return (scratch, segments);
    }

    private static void ShortEscape(Utf8Sink destination, byte letter, int depth)
    {
        Special(destination, (byte)'\\', depth);
        destination.Write(letter);
    }

    private static byte HexDigit(int nibble) => (byte)"0123456789abcdef"[nibble & 0xf];

    private static void CheckDepth(int depth)
    {
        if (depth > MaxDepth)
        {
            throw new InsufficientMemoryException($"canonical text nested {depth} levels deep would escape each quote into 2^{depth} characters");
        }
    }

    private static void WriteScalar(Utf8Sink destination, TahoeValue value)
    {
        switch (value)
        {
            case TahoeNull:
                destination.Write("null"u8);
                break;
            case TahoeBool b:
                destination.Write(b.Value ? "true"u8 : "false"u8);
                break;
            case TahoeInt { FitsInt64: true } i:
                i.Int64.TryFormat(destination.GetSpan(20), out var written, default, CultureInfo.InvariantCulture);
                destination.Advance(written);
                break;
            case TahoeInt i:
                var digits = i.Digits;
                Ascii.FromUtf16(digits, destination.GetSpan(digits.Length), out var copied);
                destination.Advance(copied);
                break;
            case TahoeFloat f:
                destination.Advance(PythonText.WriteFloatRepr(f.Value, destination.GetSpan(PythonText.MaxFloatLength)));
                break;
            default:
                throw new ArgumentException($"not a scalar: {value.Kind}", nameof(value));
        }
    }

    private void WriteDict(Utf8Sink destination, TahoeDict dict, int depth, int level)
    {
        var n = dict.Count;
        if (n == 0)
        {
            destination.Write("{}"u8);
            return;
        }

        CheckDepth(depth + 1);
        var entries = dict.Entries.AsSpan();
        int[]? rented = null;
        var order = n <= 64 ? stackalloc int[n] : (rented = ArrayPool<int>.Shared.Rent(n)).AsSpan(0, n);
        try
        {
            for (var i = 0; i < n; i++)
            {
                order[i] = i;
            }

            SortKeys(order, entries);
            destination.Write((byte)'{');
            for (var k = 0; k < n; k++)
            {
                if (k > 0)
                {
                    destination.Write(", "u8);
                }

                var entry = entries[order[k]];
                WriteJsonString(destination, entry.Key, depth);
                destination.Write(": "u8);

                // The value is json.dumps(canonical(value)): quoted here, its text one escape deeper.
                Special(destination, (byte)'"', depth);
                Write(destination, entry.Value, depth + 1, level);
                Special(destination, (byte)'"', depth);
            }

            destination.Write((byte)'}');
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    private void WriteList(Utf8Sink destination, TahoeList list, int depth, int level)
    {
        var n = list.Count;
        if (n == 0)
        {
            destination.Write("[]"u8);
            return;
        }

        // Each element is json.dumps(canonical(element)): its text is written once, already at its final depth
        // (one escape deeper), into this level's scratch buffer; then sorted on the unescaped text and copied out.
        CheckDepth(depth + 1);
        var (scratch, segments) = Level(level, n);
        var start = scratch.Length;
        for (var i = 0; i < n; i++)
        {
            var at = scratch.Length;
            Write(scratch, list[i], depth + 1, level + 1);
            segments[i] = new Segment(at, scratch.Length - at);
        }

        var bytes = scratch.Buffer;
        var sorted = segments.AsSpan(0, n);
        SortEscaped(sorted, bytes, depth + 1);
        destination.Write((byte)'[');
        for (var i = 0; i < sorted.Length; i++)
        {
            var item = sorted[i].Of(bytes);
            if (i > 0)
            {
                // Escaping is one-to-one: equal escaped texts are equal texts.
                if (item.SequenceEqual(sorted[i - 1].Of(bytes)))
                {
                    continue;
                }

                destination.Write(", "u8);
            }

            Special(destination, (byte)'"', depth);
            destination.Write(item);
            Special(destination, (byte)'"', depth);
        }

        destination.Write((byte)']');
        scratch.Length = start;
    }

    // Sorts texts escaped `depth` times (depth >= 1) in the ordinal order of their unescaped texts.
    private static void SortEscaped(Span<Segment> segments, byte[] bytes, int depth)
    {
        var order = new EscapedOrder(bytes, 1 << depth);
        if (segments.Length > 16)
        {
            segments.Sort(order);
            return;
        }

        for (var i = 1; i < segments.Length; i++)
        {
            var item = segments[i];
            var at = i;
            while (at > 0 && order.Compare(segments[at - 1], item) > 0)
            {
                segments[at] = segments[at - 1];
                at--;
            }

            segments[at] = item;
        }
    }

    /// <summary>
    /// Compares two printable-ASCII texts escaped the same number of times as their unescaped texts compare: a
    /// backslash starts a token of <c>tokenLength</c> (2^depth) bytes standing for its last byte, any other byte
    /// stands for itself.
    /// </summary>
    internal static int CompareEscaped(ReadOnlySpan<byte> x, ReadOnlySpan<byte> y, int tokenLength)
    {
        if (x.IsEmpty || y.IsEmpty)
        {
            return x.Length.CompareTo(y.Length);
        }

        // Equal bytes tokenise alike: skip whole tokens of the common prefix, then decode from the first difference.
        var common = x.CommonPrefixLength(y);
        var i = 0;
        while (true)
        {
            var token = x[i] == (byte)'\\' ? tokenLength : 1;
            if (i + token > common)
            {
                break;
            }

            i += token;
            if (i == x.Length || i == y.Length)
            {
                return (x.Length - i).CompareTo(y.Length - i);
            }
        }

        var j = i;
        while (i < x.Length && j < y.Length)
        {
            var a = x[i] == (byte)'\\' ? x[i + tokenLength - 1] : x[i];
            var b = y[j] == (byte)'\\' ? y[j + tokenLength - 1] : y[j];
            if (a != b)
            {
                return a - b;
            }

            i += x[i] == (byte)'\\' ? tokenLength : 1;
            j += y[j] == (byte)'\\' ? tokenLength : 1;
        }

        return (i < x.Length ? 1 : 0) - (j < y.Length ? 1 : 0);
    }

    /// <summary>A slice of a scratch buffer: one element's canonical text.</summary>
    internal readonly record struct Segment(int Start, int Length)
    {
        public ReadOnlySpan<byte> Of(byte[] buffer) => buffer.AsSpan(Start, Length);
    }

    private readonly struct EscapedOrder(byte[] buffer, int tokenLength) : IComparer<Segment>
    {
        public int Compare(Segment x, Segment y) => CompareEscaped(x.Of(buffer), y.Of(buffer), tokenLength);
    }

    // Orders entry indexes by key code point; insertion sort for the usual few keys (the BCL sort goes through a
    // boxed comparer).
    private static void SortKeys(Span<int> order, ReadOnlySpan<KeyValuePair<string, TahoeValue>> entries)
    {
        if (order.Length > 16)
        {
            var keys = new string[order.Length];
            for (var i = 0; i < keys.Length; i++)
            {
                keys[i] = entries[order[i]].Key;
            }

            keys.AsSpan().Sort(order, CodePointComparer.Instance);
            return;
        }

        for (var i = 1; i < order.Length; i++)
        {
            var item = order[i];
            var key = entries[item].Key;
            var at = i;
            while (at > 0 && CodePointComparer.Instance.Compare(entries[order[at - 1]].Key, key) > 0)
            {
                order[at] = order[at - 1];
                at--;
            }

            order[at] = item;
        }
    }
}

/// <summary>A growable byte buffer rented from the shared array pool.</summary>
internal sealed class Utf8Sink
{
    private const int InitialCapacity = 4096;

    /// <summary>The underlying array; replaced when the buffer grows.</summary>
    public byte[] Buffer { get; private set; } = [];

    /// <summary>Bytes written.</summary>
    public int Length { get; set; }

    /// <summary>The size of <see cref="Buffer"/>.</summary>
    public int Capacity => Buffer.Length;

    /// <summary>The bytes written.</summary>
    public ReadOnlySpan<byte> Written => Buffer.AsSpan(0, Length);

    /// <summary>Forgets what was written.</summary>
    public void Clear() => Length = 0;

    /// <summary>At least <paramref name="size"/> free bytes after the written ones; <see cref="Advance"/> by what was used.</summary>
    public Span<byte> GetSpan(int size)
    {
        if (Buffer.Length - Length < size)
        {
            Grow(size);
        }

        return Buffer.AsSpan(Length);
    }

    /// <summary>Counts <paramref name="count"/> more bytes as written.</summary>
    public void Advance(int count) => Length += count;

    /// <summary>Appends one byte.</summary>
    public void Write(byte b)
    {
        if (Length == Buffer.Length)
        {
            Grow(1);
        }

        Buffer[Length++] = b;
    }

    /// <summary>Appends <paramref name="bytes"/>.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        Length += bytes.Length;
    }

    /// <summary>Returns the array to the pool; the sink starts empty again.</summary>
    public void Release()
    {
        if (Buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }

        Buffer = [];
        Length = 0;
    }

    private void Grow(int size)
    {
        var needed = (long)Length + size;
        if (needed > Array.MaxLength)
        {
            throw new InsufficientMemoryException($"canonical text longer than {Array.MaxLength} bytes");
        }

        var capacity = (int)Math.Min(Array.MaxLength, Math.Max(needed, Math.Max(InitialCapacity, (long)Buffer.Length * 2)));
        var grown = ArrayPool<byte>.Shared.Rent(capacity);
        Buffer.AsSpan(0, Length).CopyTo(grown);
        if (Buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(Buffer);
        }

        Buffer = grown;
    }
}
