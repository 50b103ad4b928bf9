using System.Buffers;
using System.Buffers.Binary;
using Npgsql;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// Rows for one <c>COPY … FROM STDIN (FORMAT BINARY)</c>, encoded into one buffer in PostgreSQL's binary COPY format
/// and sent through a raw copy stream. For the writer's largest COPYs (several million fields per ingest of a million
/// events), where writing each field through <see cref="NpgsqlBinaryImporter"/> (a parameter bound per field) costs
/// the client more than the encoding itself. The server reads exactly the bytes the importer would send.
/// </summary>
/// <remarks>
/// The format: an 11-byte signature, 32-bit flags and header-extension length (both 0); per row a 16-bit field count
/// and per field a 32-bit length and the field's binary form (big-endian numbers, raw bytes for <c>bytea</c>, UTF-8
/// for <c>text</c>); a 16-bit −1 after the last row.
/// </remarks>
internal sealed class BinaryCopyRows : IDisposable
{
    private static readonly byte[] Header = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0, 0, 0, 0, 0, 0, 0, 0, 0];

    private byte[] _buffer;
    private int _length;

    /// <summary>Starts the rows; <paramref name="expectedBytes"/> sizes the first buffer.</summary>
    public BinaryCopyRows(int expectedBytes)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(expectedBytes, 256) + Header.Length + 2);
        Header.CopyTo(_buffer, 0);
        _length = Header.Length;
    }

    /// <summary>Starts a row of <paramref name="fields"/> fields.</summary>
    public void StartRow(short fields) => BinaryPrimitives.WriteInt16BigEndian(Take(2), fields);

    public void Int16(short value)
    {
        var span = Take(6);
        BinaryPrimitives.WriteInt32BigEndian(span, 2);
        BinaryPrimitives.WriteInt16BigEndian(span[4..], value);
    }

    public void Int32(int value)
    {
        var span = Take(8);
        BinaryPrimitives.WriteInt32BigEndian(span, 4);
        BinaryPrimitives.WriteInt32BigEndian(span[4..], value);
    }

    public void Int64(long value)
    {
        var span = Take(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteInt64BigEndian(span[4..], value);
    }

    public void Float8(double value)
    {
        var span = Take(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteDoubleBigEndian(span[4..], value);
    }

    /// <summary>A <c>bytea</c> field (or a <c>text</c> field given as UTF-8).</summary>
    public void Bytes(ReadOnlySpan<byte> value)
    {
        var span = Take(4 + value.Length);
        BinaryPrimitives.WriteInt32BigEndian(span, value.Length);
        value.CopyTo(span[4..]);
    }

    /// <summary>A <c>bytea</c> field to be filled by the caller: its <paramref name="length"/> bytes.</summary>
    public Span<byte> Bytes(int length)
    {
        var span = Take(4 + length);
        BinaryPrimitives.WriteInt32BigEndian(span, length);
        return span[4..];
    }

    /// <summary>A <c>text</c> field (UTF-8).</summary>
    public void Text(string value)
    {
        var max = System.Text.Encoding.UTF8.GetMaxByteCount(value.Length);
        var span = Take(4 + max);
        var written = System.Text.Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32BigEndian(span, written);
        _length -= max - written;
    }

    /// <summary>Sends the rows with <paramref name="copyCommand"/> (a binary <c>COPY … FROM STDIN</c>) on <paramref name="conn"/>.</summary>
    public async Task SendAsync(NpgsqlConnection conn, string copyCommand, CancellationToken ct)
    {
        BinaryPrimitives.WriteInt16BigEndian(Take(2), -1);
        var copy = await conn.BeginRawBinaryCopyAsync(copyCommand, ct).ConfigureAwait(false);
        await using (copy.ConfigureAwait(false))
        {
            await copy.WriteAsync(_buffer.AsMemory(0, _length), ct).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    private Span<byte> Take(int bytes)
    {
        if (_length + bytes > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + bytes));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        var span = _buffer.AsSpan(_length, bytes);
        _length += bytes;
        return span;
    }
}
