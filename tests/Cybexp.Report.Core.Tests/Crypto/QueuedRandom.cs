using System.Security.Cryptography;

namespace Cybexp.Report.Core.Tests.Crypto;

/// <summary>A fake random source that hands out the given chunks in order; it fails if asked for anything else.</summary>
internal sealed class QueuedRandom(params byte[][] chunks) : RandomNumberGenerator
{
    private readonly Queue<byte[]> _chunks = new(chunks);

    public override void GetBytes(byte[] data) => GetBytes(data.AsSpan());

    public override void GetBytes(Span<byte> data)
    {
        byte[] next = _chunks.Count > 0 ? _chunks.Dequeue() : throw new InvalidOperationException("no random bytes left");
        if (next.Length != data.Length)
        {
            throw new InvalidOperationException($"asked for {data.Length} random bytes, the next chunk has {next.Length}");
        }

        next.CopyTo(data);
    }
}
