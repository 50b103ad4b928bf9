using System.Buffers;
using System.Text;

namespace Cybexp.Report.Core.Storage;

/// <summary>
/// A lossless, smaller form of a stored document text for stores that write every byte twice (table and
/// write-ahead log). About three quarters of an event's text are SHA-256 hashes written as 64 lowercase hex digits in
/// quotes (<c>_hash</c>, <c>orgid</c>, <c>_ref</c>, <c>_cref</c>, <c>_ben_ref</c>, …), and most of an event's
/// <c>_cref</c> and <c>_ben_ref</c>/<c>_mal_ref</c> entries repeat entries of its <c>_ref</c>. The packed form keeps
/// every other byte of the UTF-8 text as it is and writes those hashes as their 32 bytes, and a repeat as its
/// number: an event of the generated data goes from about 1,140 to about 600 bytes.
/// </summary>
/// <remarks>
/// <para>The format, byte by byte (the PostgreSQL functions <c>cybexp_pack_doc(text)</c> and <c>cybexp_doc(bytea)</c>
/// of migration 0011 implement the same):</para>
/// <list type="bullet">
/// <item>The first byte names the form. <c>0x00</c>: the rest is the UTF-8 text unchanged (used when the text itself
/// holds a byte 0x01 or 0x02, which JSON text never does). <c>0x01</c>: packed, as follows.</item>
/// <item>Byte <c>0x01</c> followed by 32 bytes stands for <c>"</c>, those bytes in lowercase hex, <c>"</c>.</item>
/// <item>Byte <c>0x02</c> followed by one byte <c>k</c> stands for the same 66 bytes as the <c>k</c>-th (from 0)
/// <c>0x01</c> of the document; only the first 256 distinct hashes can be repeated this way, later ones are
/// written in full each time.</item>
/// <item>Every other byte stands for itself.</item>
/// </list>
/// <para>The hashes replaced are the leftmost non-overlapping matches of <c>"[0-9a-f]{64}"</c> in the text, as a
/// regular-expression scan finds them, so that packing in SQL and here gives the same bytes: a store compares
/// packed forms to tell a duplicate from an edit. The form of a text is a function of the text alone.</para>
/// </remarks>
public static class PackedDocumentText
{
    /// <summary>First byte of a text stored unchanged.</summary>
    public const byte Plain = 0x00;

    /// <summary>First byte of a packed text; also the byte that starts a hash within it.</summary>
    public const byte Packed = 0x01;

    private const byte HashMark = 0x01;
    private const byte RepeatMark = 0x02;
    private const int HexLength = 64;
    private const int TokenLength = HexLength + 2;
    private const int HashLength = 32;
    private const int MaxRepeatable = 256;

    private static readonly SearchValues<byte> LowerHex = SearchValues.Create("0123456789abcdef"u8);
    private static readonly SearchValues<byte> Marks = SearchValues.Create([HashMark, RepeatMark]);
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>The most bytes <see cref="Pack(ReadOnlySpan{byte}, Span{byte})"/> writes for a text of <paramref name="utf8Length"/> bytes.</summary>
    public static int MaxPackedLength(int utf8Length) => utf8Length + 1;

    /// <summary>The packed form of <paramref name="text"/>.</summary>
    public static byte[] Pack(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Pack(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>The packed form of the UTF-8 text <paramref name="utf8"/>.</summary>
    public static byte[] Pack(ReadOnlySpan<byte> utf8)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(MaxPackedLength(utf8.Length));
        try
        {
            var length = Pack(utf8, buffer);
            return buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Writes the packed form of the UTF-8 text <paramref name="utf8"/> into <paramref name="destination"/> (at least
    /// <see cref="MaxPackedLength"/> bytes) and returns its length.
    /// </summary>
    public static int Pack(ReadOnlySpan<byte> utf8, Span<byte> destination)
    {
        if (destination.Length < MaxPackedLength(utf8.Length))
        {
            throw new ArgumentException($"the destination holds {destination.Length} bytes; packing {utf8.Length} bytes needs {MaxPackedLength(utf8.Length)}", nameof(destination));
        }

        if (utf8.ContainsAny(Marks))
        {
            destination[0] = Plain;
            utf8.CopyTo(destination[1..]);
            return utf8.Length + 1;
        }

        destination[0] = Packed;
        var written = 1;
        var literalStart = 0;
        var at = 0;
        // The hashes already written in full, in order (their first 256), as offsets of their bytes in destination.
        Span<int> seen = stackalloc int[MaxRepeatable];
        var seenCount = 0;
        while (true)
        {
            var quote = utf8[at..].IndexOf((byte)'"');
            if (quote < 0)
            {
                break;
            }

            quote += at;
            if (quote + TokenLength > utf8.Length || utf8[quote + TokenLength - 1] != (byte)'"' || utf8.Slice(quote + 1, HexLength).ContainsAnyExcept(LowerHex))
            {
                at = quote + 1;
                continue;
            }

            utf8[literalStart..quote].CopyTo(destination[written..]);
            written += quote - literalStart;
            var hash = destination.Slice(written + 1, HashLength);
            Convert.FromHexString(utf8.Slice(quote + 1, HexLength), hash, out _, out _);
            var repeat = -1;
            for (var k = 0; k < seenCount; k++)
            {
                if (destination.Slice(seen[k], HashLength).SequenceEqual(hash))
                {
                    repeat = k;
                    break;
                }
            }

            if (repeat >= 0)
            {
                destination[written] = RepeatMark;
                destination[written + 1] = (byte)repeat;
                written += 2;
            }
            else
            {
                destination[written] = HashMark;
                if (seenCount < MaxRepeatable)
                {
                    seen[seenCount++] = written + 1;
                }

                written += 1 + HashLength;
            }

            at = literalStart = quote + TokenLength;
        }

        utf8[literalStart..].CopyTo(destination[written..]);
        return written + utf8.Length - literalStart;
    }

    /// <summary>The text whose packed form is <paramref name="packed"/>.</summary>
    /// <exception cref="FormatException">The bytes are not a packed document (a store's row was damaged).</exception>
    public static string Unpack(ReadOnlySpan<byte> packed)
    {
        if (packed.IsEmpty)
        {
            throw new FormatException("a stored document is empty; a packed document starts with byte 0x00 or 0x01");
        }

        if (packed[0] == Plain)
        {
            return Decode(packed[1..]);
        }

        if (packed[0] != Packed)
        {
            throw new FormatException($"a stored document starts with byte 0x{packed[0]:x2}; a packed document starts with 0x00 or 0x01");
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(16, UnpackedLength(packed)));
        try
        {
            var written = 0;
            Span<int> seen = stackalloc int[MaxRepeatable];
            var seenCount = 0;
            var at = 1;
            while (at < packed.Length)
            {
                var mark = packed[at..].IndexOfAny(Marks);
                var literalEnd = mark < 0 ? packed.Length : at + mark;
                packed[at..literalEnd].CopyTo(buffer.AsSpan(written));
                written += literalEnd - at;
                if (mark < 0)
                {
                    break;
                }

                int hashAt;
                if (packed[literalEnd] == HashMark)
                {
                    hashAt = literalEnd + 1;
                    if (hashAt + HashLength > packed.Length)
                    {
                        throw new FormatException($"a stored document ends inside a hash at byte {literalEnd}");
                    }

                    if (seenCount < MaxRepeatable)
                    {
                        seen[seenCount++] = hashAt;
                    }

                    at = hashAt + HashLength;
                }
                else
                {
                    if (literalEnd + 1 >= packed.Length || packed[literalEnd + 1] >= seenCount)
                    {
                        throw new FormatException($"a stored document repeats a hash it does not hold at byte {literalEnd}");
                    }

                    hashAt = seen[packed[literalEnd + 1]];
                    at = literalEnd + 2;
                }

                buffer[written] = (byte)'"';
                WriteLowerHex(packed.Slice(hashAt, HashLength), buffer.AsSpan(written + 1, HexLength));
                buffer[written + TokenLength - 1] = (byte)'"';
                written += TokenLength;
            }

            return Decode(buffer.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int UnpackedLength(ReadOnlySpan<byte> packed)
    {
        // An upper bound: every byte after the first as text, plus what each mark may add.
        var length = packed.Length;
        var marks = packed.Count(HashMark) + packed.Count(RepeatMark);
        return length + (marks * TokenLength);
    }

    private static void WriteLowerHex(ReadOnlySpan<byte> bytes, Span<byte> destination)
    {
        ReadOnlySpan<byte> digits = "0123456789abcdef"u8;
        for (var i = 0; i < bytes.Length; i++)
        {
            destination[2 * i] = digits[bytes[i] >> 4];
            destination[(2 * i) + 1] = digits[bytes[i] & 0xF];
        }
    }

    private static string Decode(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return StrictUtf8.GetString(utf8);
        }
        catch (DecoderFallbackException e)
        {
            throw new FormatException("a stored document is not UTF-8 text once unpacked", e);
        }
    }
}
