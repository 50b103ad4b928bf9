using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace Cybexp.Report.Core.Crypto;

/// <summary>AES in EAX mode with a 128-bit tag and no associated data, as PyCryptodome's <c>AES.MODE_EAX</c>.</summary>
internal static class AesEax
{
    public const int TagSize = 16;
    private const int TagBits = TagSize * 8;

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (same length) and writes the tag.</summary>
    public static void Encrypt(
        ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag)
    {
        if (ciphertext.Length != plaintext.Length || tag.Length != TagSize)
        {
            throw new ArgumentException("the ciphertext must be as long as the plaintext and the tag 16 bytes");
        }

        var cipher = Create(forEncryption: true, key, nonce);
        int written = cipher.ProcessBytes(plaintext, ciphertext);
        // DoFinal emits the last buffered bytes of the ciphertext followed by the tag.
        Span<byte> final = stackalloc byte[cipher.GetOutputSize(0)];
        int finalLength = cipher.DoFinal(final);
        int tail = finalLength - TagSize;
        final[..tail].CopyTo(ciphertext[written..]);
        final.Slice(tail, TagSize).CopyTo(tag);
        if (written + tail != plaintext.Length)
        {
            throw new InvalidOperationException("EAX produced an unexpected ciphertext length");
        }
    }

    /// <summary>
    /// Decrypts and verifies. Returns false, with <paramref name="plaintext"/> cleared, when the tag does not match.
    /// </summary>
    public static bool TryDecrypt(
        ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext)
    {
        if (plaintext.Length != ciphertext.Length)
        {
            throw new ArgumentException("the plaintext buffer must be as long as the ciphertext", nameof(plaintext));
        }

        // BouncyCastle's EAX expects ct || tag; feeding the two parts one after the other is the same stream
        // and avoids copying a large ciphertext.
        var cipher = Create(forEncryption: false, key, nonce);
        try
        {
            int written = cipher.ProcessBytes(ciphertext, plaintext);
            written += cipher.ProcessBytes(tag, plaintext[written..]);
            written += cipher.DoFinal(plaintext[written..]);
            return written == ciphertext.Length;
        }
        catch (InvalidCipherTextException)
        {
            plaintext.Clear();
            return false;
        }
    }

    private static EaxBlockCipher Create(bool forEncryption, ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce)
    {
        var cipher = new EaxBlockCipher(new AesEngine());
        cipher.Init(forEncryption, new AeadParameters(new KeyParameter(key), TagBits, nonce.ToArray()));
        return cipher;
    }
}
