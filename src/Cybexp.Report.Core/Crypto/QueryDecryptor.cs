using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace Cybexp.Report.Core.Crypto;

/// <summary>
/// Decrypts query blobs (<see cref="QueryCipherLayout"/>) with the report module's RSA private key, as the original
/// <c>decrypt_file</c>: RSA-OAEP (SHA-1, MGF1-SHA-1, empty label) unwraps the session key from the first
/// modulus-size bytes, AES-EAX decrypts and verifies the rest, and the plaintext is decoded as strict UTF-8.
/// </summary>
/// <remarks>
/// Memory: the blob is read in place; one plaintext-size buffer and the resulting string are allocated, so a
/// 10 MB blob costs about 10 MB plus the string. There is no size cap here; callers that read untrusted input
/// decide how much to read. Session keys and the plaintext buffer are zeroed after use.
/// </remarks>
public sealed class QueryDecryptor : IDisposable
{
    private readonly RSA _rsa;
    private bool _disposed;

    private QueryDecryptor(RSA rsa)
    {
        _rsa = rsa;
        KeyBlockSize = (rsa.KeySize + 7) / 8;
    }

    /// <summary>
    /// Loads the private key from PEM text (PKCS#1 <c>RSA PRIVATE KEY</c> or PKCS#8 <c>PRIVATE KEY</c>).
    /// Throws <see cref="ArgumentException"/> with the same message <see cref="FromPem"/> would give.
    /// </summary>
    public QueryDecryptor(string privateKeyPem)
        : this(LoadOrThrow(privateKeyPem))
    {
    }

    /// <summary>Size in bytes of the RSA key block at the start of every blob (the modulus size).</summary>
    public int KeyBlockSize { get; }

    /// <summary>
    /// Loads the private key from PEM text (PKCS#1 <c>RSA PRIVATE KEY</c> or PKCS#8 <c>PRIVATE KEY</c>). A public
    /// key is refused with "a public key was given where the private key is needed".
    /// </summary>
    public static CryptoResult<QueryDecryptor> FromPem(string privateKeyPem) =>
        RsaPem.LoadPrivate(privateKeyPem).TryGetValue(out RSA? rsa, out string? error)
            ? CryptoResult<QueryDecryptor>.Success(new QueryDecryptor(rsa))
            : CryptoResult<QueryDecryptor>.Failure(error);

    /// <summary>Decrypts a blob in any of its forms.</summary>
    public DecryptionResult Decrypt(QueryCiphertext ciphertext)
    {
        ArgumentNullException.ThrowIfNull(ciphertext);
        return Decrypt(ciphertext.Bytes.Span);
    }

    /// <summary>Decrypts <c>enc_session_key || nonce || tag || ciphertext</c> to its UTF-8 plaintext.</summary>
    public DecryptionResult Decrypt(ReadOnlySpan<byte> blob)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int minimum = QueryCipherLayout.MinimumLength(KeyBlockSize);
        if (blob.Length < minimum)
        {
            return DecryptionResult.Failed(DecryptionStage.Format, string.Create(CultureInfo.InvariantCulture,
                $"the blob is {blob.Length} bytes; at least {minimum} are needed ({KeyBlockSize}-byte RSA key block, {QueryCipherLayout.NonceSize}-byte nonce, {QueryCipherLayout.TagSize}-byte tag)"));
        }

        ReadOnlySpan<byte> keyBlock = blob[..KeyBlockSize];
        ReadOnlySpan<byte> nonce = blob.Slice(KeyBlockSize, QueryCipherLayout.NonceSize);
        ReadOnlySpan<byte> tag = blob.Slice(KeyBlockSize + QueryCipherLayout.NonceSize, QueryCipherLayout.TagSize);
        ReadOnlySpan<byte> body = blob[minimum..];

        Span<byte> sessionKey = stackalloc byte[KeyBlockSize];
        try
        {
            int keyLength;
            try
            {
                if (!_rsa.TryDecrypt(keyBlock, sessionKey, RSAEncryptionPadding.OaepSHA1, out keyLength))
                {
                    return DecryptionResult.Failed(DecryptionStage.KeyUnwrap, "the RSA key block holds more than a modulus of data");
                }
            }
            catch (CryptographicException)
            {
                // The reason is deliberately not distinguished further (no padding oracle).
                return DecryptionResult.Failed(DecryptionStage.KeyUnwrap, string.Create(CultureInfo.InvariantCulture,
                    $"RSA-OAEP (SHA-1) decryption of the {KeyBlockSize}-byte key block failed: the blob was made for another key or was altered"));
            }

            if (keyLength is not (16 or 24 or 32))
            {
                return DecryptionResult.Failed(DecryptionStage.KeyUnwrap, string.Create(CultureInfo.InvariantCulture,
                    $"the unwrapped session key is {keyLength} bytes; AES needs 16, 24 or 32"));
            }

            return DecryptBody(sessionKey[..keyLength], nonce, tag, body);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sessionKey);
        }
    }

    private static DecryptionResult DecryptBody(
        ReadOnlySpan<byte> sessionKey, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> tag, ReadOnlySpan<byte> body)
    {
        byte[] plaintext = ArrayPool<byte>.Shared.Rent(body.Length);
        Span<byte> plain = plaintext.AsSpan(0, body.Length);
        try
        {
            if (!AesEax.TryDecrypt(sessionKey, nonce, tag: tag, ciphertext: body, plaintext: plain))
            {
                return DecryptionResult.Failed(DecryptionStage.AuthenticationTag,
                    "AES-EAX tag mismatch: the nonce, tag or ciphertext was altered, or the key block belongs to another message");
            }

            return Utf8.IsValid(plain)
                ? DecryptionResult.Success(Encoding.UTF8.GetString(plain))
                : DecryptionResult.Failed(DecryptionStage.Utf8, string.Create(CultureInfo.InvariantCulture,
                    $"the plaintext is not valid UTF-8 (first invalid byte at offset {FirstInvalidUtf8(plain)})"));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            ArrayPool<byte>.Shared.Return(plaintext);
        }
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        Span<char> chars = stackalloc char[1024];
        int offset = 0;
        while (true)
        {
            var status = Utf8.ToUtf16(bytes[offset..], chars, out int read, out _, replaceInvalidSequences: false);
            offset += read;
            if (status != OperationStatus.DestinationTooSmall)
            {
                return offset;
            }
        }
    }

    private static RSA LoadOrThrow(string privateKeyPem) =>
        RsaPem.LoadPrivate(privateKeyPem).TryGetValue(out RSA? rsa, out string? error)
            ? rsa
            : throw new ArgumentException(error, nameof(privateKeyPem));

    /// <summary>Releases the RSA key.</summary>
    public void Dispose()
    {
        _disposed = true;
        _rsa.Dispose();
    }
}
