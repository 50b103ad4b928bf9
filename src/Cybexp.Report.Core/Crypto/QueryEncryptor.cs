using System.Security.Cryptography;
using System.Text;

namespace Cybexp.Report.Core.Crypto;

/// <summary>
/// Encrypts a query for the report module exactly as the original API's <c>encrypt_file</c>: a random 32-byte
/// AES session key wrapped with RSA-OAEP (SHA-1, MGF1-SHA-1, empty label), a random 16-byte EAX nonce, and the
/// output <c>enc_session_key || nonce || tag || ciphertext</c> (<see cref="QueryCipherLayout"/>).
/// </summary>
/// <remarks>
/// The session key and nonce come from the injected <see cref="RandomNumberGenerator"/> (the session key is drawn
/// first, then the nonce), so tests can fix them. The OAEP padding of the key block draws from the platform's own
/// generator and cannot be injected, so the first <c>modulus-size</c> bytes always differ between runs.
/// </remarks>
public sealed class QueryEncryptor : IDisposable
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly RSA _rsa;
    private readonly RandomNumberGenerator? _random;
    private bool _disposed;

    private QueryEncryptor(RSA rsa, RandomNumberGenerator? random)
    {
        _rsa = rsa;
        _random = random;
        KeyBlockSize = (rsa.KeySize + 7) / 8;
    }

    /// <summary>
    /// Loads the public key from PEM text (<c>PUBLIC KEY</c> or <c>RSA PUBLIC KEY</c>). Throws
    /// <see cref="ArgumentException"/> with the same message <see cref="FromPem"/> would give.
    /// </summary>
    /// <param name="publicKeyPem">The recipient's public key.</param>
    /// <param name="random">Source of session keys and nonces; null for the system CSPRNG. Not disposed here.</param>
    public QueryEncryptor(string publicKeyPem, RandomNumberGenerator? random = null)
        : this(RsaPem.LoadPublic(publicKeyPem).TryGetValue(out RSA? rsa, out string? error)
            ? rsa
            : throw new ArgumentException(error, nameof(publicKeyPem)), random)
    {
    }

    /// <summary>Size in bytes of the RSA key block at the start of every blob this encryptor writes.</summary>
    public int KeyBlockSize { get; }

    /// <summary>
    /// Loads the public key from PEM text (<c>PUBLIC KEY</c> or <c>RSA PUBLIC KEY</c>). A private key is refused
    /// with "a private key was given where the public key is needed".
    /// </summary>
    /// <param name="publicKeyPem">The recipient's public key.</param>
    /// <param name="random">Source of session keys and nonces; null for the system CSPRNG. Not disposed here.</param>
    public static CryptoResult<QueryEncryptor> FromPem(string publicKeyPem, RandomNumberGenerator? random = null) =>
        RsaPem.LoadPublic(publicKeyPem).TryGetValue(out RSA? rsa, out string? error)
            ? CryptoResult<QueryEncryptor>.Success(new QueryEncryptor(rsa, random))
            : CryptoResult<QueryEncryptor>.Failure(error);

    /// <summary>Encrypts the UTF-8 encoding of <paramref name="plaintext"/> (which must be valid UTF-16).</summary>
    public byte[] Encrypt(string plaintext)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        return Encrypt(StrictUtf8.GetBytes(plaintext));
    }

    /// <summary>Encrypts <paramref name="plaintext"/> to <c>enc_session_key || nonce || tag || ciphertext</c>.</summary>
    public byte[] Encrypt(ReadOnlySpan<byte> plaintext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Span<byte> sessionKey = stackalloc byte[QueryCipherLayout.SessionKeySize];
        try
        {
            Fill(sessionKey);
            var blob = new byte[QueryCipherLayout.MinimumLength(KeyBlockSize) + plaintext.Length];
            Span<byte> keyBlock = blob.AsSpan(0, KeyBlockSize);
            Span<byte> nonce = blob.AsSpan(KeyBlockSize, QueryCipherLayout.NonceSize);
            Span<byte> tag = blob.AsSpan(KeyBlockSize + QueryCipherLayout.NonceSize, QueryCipherLayout.TagSize);
            Span<byte> body = blob.AsSpan(QueryCipherLayout.MinimumLength(KeyBlockSize));

            Fill(nonce);
            int wrapped = _rsa.Encrypt(sessionKey, keyBlock, RSAEncryptionPadding.OaepSHA1);
            if (wrapped != KeyBlockSize)
            {
                throw new CryptographicException("RSA-OAEP produced a key block of unexpected size");
            }

            AesEax.Encrypt(sessionKey, nonce, plaintext, body, tag);
            return blob;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sessionKey);
        }
    }

    /// <summary>Releases the RSA key (not the injected random source).</summary>
    public void Dispose()
    {
        _disposed = true;
        _rsa.Dispose();
    }

    private void Fill(Span<byte> destination)
    {
        if (_random is null)
        {
            RandomNumberGenerator.Fill(destination);
        }
        else
        {
            _random.GetBytes(destination);
        }
    }
}
