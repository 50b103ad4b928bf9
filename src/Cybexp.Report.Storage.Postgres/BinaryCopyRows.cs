using System.Buffers.Binary;
using Npgsql;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// One <c>COPY … FROM STDIN (FORMAT BINARY)</c> whose rows are encoded by hand in PostgreSQL's binary COPY format and
/// sent through a raw copy stream, a buffer at a time. For the writer's COPYs (tens of millions of fields per ingest of
/// a million events), where writing each field through <see cref="NpgsqlBinaryImporter"/> (a parameter bound per
/// field) costs the client more than the encoding itself. The server reads exactly the bytes the importer would send.
/// </summary>
/// <remarks>
/// The format: an 11-byte signature, 32-bit flags and header-extension length (both 0); per row a 16-bit field count
/// and per field a 32-bit length and the field's binary form (big-endian numbers, raw bytes for <c>bytea</c>, UTF-8
/// for <c>text</c>); a 16-bit −1 after the last row. Always used inside the batch's transaction: a COPY left
/// unfinished by a failure is undone with it.
/// </remarks>
internal sealed class BinaryCopyRows : IAsyncDisposable
{
    /// <summary>Bytes sent at a time (a row longer than the rest of the buffer grows it).</summary>
    private const int BufferBytes = 64 * 1024;

    private static readonly byte[] Header = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0, 0, 0, 0, 0, 0, 0, 0, 0];

    private readonly NpgsqlRawCopyStream _stream;
    private byte[] _buffer = new byte[BufferBytes];
    private int _length;
    private bool _completed;

    private BinaryCopyRows(NpgsqlRawCopyStream stream)
    {
        _stream = stream;
        Header.CopyTo(_buffer, 0);
        _length = Header.Length;
    }

    /// <summary>Starts <paramref name="copyCommand"/> (a binary <c>COPY … FROM STDIN</c>) on <paramref name="conn"/>.</summary>
    public static async Task<BinaryCopyRows> BeginAsync(NpgsqlConnection conn, string copyCommand, CancellationToken ct) =>
        new(await conn.BeginRawBinaryCopyAsync(copyCommand, ct).ConfigureAwait(false));

    /// <summary>Starts a row of <paramref name="fields"/> fields; sends the buffer first when it is nearly full.</summary>
    public ValueTask StartRowAsync(short fields, CancellationToken ct)
    {
        if (_length < BufferBytes / 2)
        {
            BinaryPrimitives.WriteInt16BigEndian(Take(2), fields);
            return ValueTask.CompletedTask;
        }

        return SendThenStartRowAsync(fields, ct);
    }

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

    /// <summary>A <c>bytea</c> field, or a <c>text</c> field given as UTF-8.</summary>
    public void Bytes(ReadOnlySpan<byte> value)
    {
        var span = Take(4 + value.Length);
        BinaryPrimitives.WriteInt32BigEndian(span, value.Length);
        value.CopyTo(span[4..]);
    }

    /// <summary>A <c>bytea</c> field of <paramref name="length"/> bytes, which the caller fills.</summary>
    public Span<byte> Bytes(int length)
    {
        var span = Take(4 + length);
        BinaryPrimitives.WriteInt32BigEndian(span, length);
        return span[4..];
    }

    /// <summary>A <c>text</c> field.</summary>
    public void Text(string value)
    {
        var max = System.Text.Encoding.UTF8.GetMaxByteCount(value.Length);
        var span = Take(4 + max);
        var written = System.Text.Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32BigEndian(span, written);
        _length -= max - written;
    }

    /// <summary>Sends the last rows and ends the COPY; a server error (a unique violation, say) is raised here.</summary>
    public async Task CompleteAsync(CancellationToken ct)
    {
        BinaryPrimitives.WriteInt16BigEndian(Take(2), -1);
        await SendAsync(ct).ConfigureAwait(false);
        _completed = true;
        await _stream.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Abandons a COPY that was not completed (the server discards its rows).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_completed)
        {
            _completed = true;
            try
            {
                await _stream.CancelAsync().ConfigureAwait(false);
                await _stream.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // Only reached after another failure, which is the one reported; the transaction is rolled back anyway.
            }
        }
    }

    private async ValueTask SendThenStartRowAsync(short fields, CancellationToken ct)
    {
        await SendAsync(ct).ConfigureAwait(false);
        BinaryPrimitives.WriteInt16BigEndian(Take(2), fields);
    }

    private async Task SendAsync(CancellationToken ct)
    {
        await _stream.WriteAsync(_buffer.AsMemory(0, _length), ct).ConfigureAwait(false);
        _length = 0;
        if (_buffer.Length > BufferBytes)
        {
            _buffer = new byte[BufferBytes];
        }
    }

    private Span<byte> Take(int bytes)
    {
        if (_length + bytes > _buffer.Length)
        {
            System.Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        }

        var span = _buffer.AsSpan(_length, bytes);
        _length += bytes;
        return span;
    }
}
