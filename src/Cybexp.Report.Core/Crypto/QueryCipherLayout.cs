namespace Cybexp.Report.Core.Crypto;

/// <summary>
/// The layout of an encrypted query blob, as written by the original API's <c>encrypt_file</c>:
/// <c>enc_session_key</c> (RSA modulus size, 256 bytes for the original 2048-bit key) <c>|| nonce (16) || tag (16)
/// || ciphertext</c> (as long as the plaintext).
/// </summary>
public static class QueryCipherLayout
{
    /// <summary>Length of the AES-EAX nonce.</summary>
    public const int NonceSize = 16;

    /// <summary>Length of the AES-EAX tag.</summary>
    public const int TagSize = AesEax.TagSize;

    /// <summary>Length of the AES session key the encryptor draws (AES-256, as the original).</summary>
    public const int SessionKeySize = 32;

    /// <summary>The smallest blob for an RSA key of <paramref name="keyBlockSize"/> bytes: key block, nonce and tag.</summary>
    public static int MinimumLength(int keyBlockSize) => keyBlockSize + NonceSize + TagSize;
}
