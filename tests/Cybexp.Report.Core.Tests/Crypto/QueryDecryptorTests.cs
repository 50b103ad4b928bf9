using System.Security.Cryptography;
using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Core.Tests.Crypto;

public sealed class QueryDecryptorTests
{
    private const string Plaintext = "{\"data\": \"\\\"1.1.1.1\\\"\", \"sub_type\": \"\\\"ipv4\\\"\"}";

    private static byte[] FreshBlob(string plaintext = Plaintext)
    {
        using var encryptor = new QueryEncryptor(CryptoVectors.PublicKeyPem);
        return encryptor.Encrypt(plaintext);
    }

    private static DecryptionResult Decrypt(ReadOnlySpan<byte> blob)
    {
        using var decryptor = new QueryDecryptor(CryptoVectors.PrivateKeyPem);
        return decryptor.Decrypt(blob);
    }

    [Theory]
    [InlineData(0, DecryptionStage.KeyUnwrap)]       // key block, first byte
    [InlineData(255, DecryptionStage.KeyUnwrap)]     // key block, last byte
    [InlineData(256, DecryptionStage.AuthenticationTag)] // nonce
    [InlineData(271, DecryptionStage.AuthenticationTag)]
    [InlineData(272, DecryptionStage.AuthenticationTag)] // tag
    [InlineData(287, DecryptionStage.AuthenticationTag)]
    [InlineData(288, DecryptionStage.AuthenticationTag)] // body, first byte
    [InlineData(-1, DecryptionStage.AuthenticationTag)]  // body, last byte
    public void Decrypt_FailsAtTheRightStage_WhenAnyRegionIsTampered(int offset, DecryptionStage stage)
    {
        byte[] blob = FreshBlob();
        blob[offset >= 0 ? offset : blob.Length + offset] ^= 0x01;

        var result = Decrypt(blob);

        Assert.False(result.IsSuccess);
        Assert.Equal(stage, result.Failure.Stage);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(256)]
    [InlineData(287)]
    public void Decrypt_FailsAtFormat_WhenTooShortForKeyBlockNonceAndTag(int length)
    {
        var result = Decrypt(FreshBlob().AsSpan(0, length));

        Assert.False(result.IsSuccess);
        Assert.Equal(DecryptionStage.Format, result.Failure.Stage);
        Assert.Equal(
            $"decryption failed at format: the blob is {length} bytes; at least 288 are needed (256-byte RSA key block, 16-byte nonce, 16-byte tag)",
            result.Failure.Message);
    }

    [Fact]
    public void Decrypt_FailsAtAuthenticationTag_WhenTheBodyIsTruncated()
    {
        byte[] blob = FreshBlob();

        var result = Decrypt(blob.AsSpan(0, blob.Length - 1));

        Assert.Equal(DecryptionStage.AuthenticationTag, result.Failure?.Stage);
    }

    [Fact]
    public void Decrypt_FailsAtKeyUnwrap_WithAnotherPrivateKey()
    {
        using var decryptor = new QueryDecryptor(TestKeys.Other2048.PrivateKeyPem);

        var result = decryptor.Decrypt(FreshBlob());

        Assert.False(result.IsSuccess);
        Assert.Equal(DecryptionStage.KeyUnwrap, result.Failure.Stage);
        Assert.StartsWith("decryption failed at key unwrap: RSA-OAEP (SHA-1)", result.Failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("7bff7d", 1)]          // a byte that never occurs in UTF-8
    [InlineData("636166c3", 3)]        // a sequence cut off at the end
    [InlineData("eda080", 0)]          // an encoded surrogate, which Python's strict decoder refuses too
    [InlineData("c0af", 0)]            // an overlong encoding
    public void Decrypt_FailsAtUtf8_NamingTheOffset(string plaintextHex, int offset)
    {
        byte[] blob;
        using (var encryptor = new QueryEncryptor(CryptoVectors.PublicKeyPem))
        {
            blob = encryptor.Encrypt(Convert.FromHexString(plaintextHex));
        }

        var result = Decrypt(blob);

        Assert.False(result.IsSuccess);
        Assert.Equal(DecryptionStage.Utf8, result.Failure.Stage);
        Assert.Equal($"decryption failed at utf-8: the plaintext is not valid UTF-8 (first invalid byte at offset {offset})", result.Failure.Message);
    }

    [Fact]
    public void Decrypt_KeepsAByteOrderMark_AsPythonDoes()
    {
        var result = Decrypt(FreshBlob("\uFEFF{}"));

        Assert.Equal("\uFEFF{}", result.Plaintext);
    }

    [Fact]
    public void FromPem_RefusesAPublicKey_WithAClearMessage()
    {
        var result = QueryDecryptor.FromPem(CryptoVectors.PublicKeyPem);

        Assert.False(result.IsSuccess);
        Assert.Equal("a public key was given where the private key is needed", result.Error);
    }

    [Fact]
    public void Constructor_ThrowsWithTheSameMessage_ForAPublicKey()
    {
        var e = Assert.Throws<ArgumentException>(() => new QueryDecryptor(CryptoVectors.PublicKeyPem));
        Assert.StartsWith("a public key was given where the private key is needed", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "no PEM key found")]
    [InlineData("not a key at all", "no PEM key found")]
    [InlineData("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "unsupported PEM type 'CERTIFICATE'")]
    [InlineData("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "the RSA PRIVATE KEY PEM block is not a readable RSA key")]
    public void FromPem_RefusesWhatIsNotAnRsaPrivateKey(string pem, string expected)
    {
        var result = QueryDecryptor.FromPem(pem);

        Assert.False(result.IsSuccess);
        Assert.Contains(expected, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void FromPem_RefusesAPasswordProtectedKey()
    {
        using var rsa = RSA.Create(2048);
        string pem = rsa.ExportEncryptedPkcs8PrivateKeyPem(
            "secret", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1000));

        var result = QueryDecryptor.FromPem(pem);

        Assert.False(result.IsSuccess);
        Assert.Contains("password-protected", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void FromPem_RefusesALegacyEncryptedPkcs1Key()
    {
        string pem = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";

        var result = QueryDecryptor.FromPem(pem);

        Assert.False(result.IsSuccess);
        Assert.Contains("password-protected", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void FromPem_FindsThePrivateKeyAmongOtherBlocks()
    {
        string bundle = CryptoVectors.PublicKeyPem + "\n" + CryptoVectors.PrivateKeyPem;

        var result = QueryDecryptor.FromPem(bundle);

        Assert.True(result.IsSuccess, result.ToString());
        using (result.Value)
        {
            Assert.Equal(Plaintext, result.Value.Decrypt(FreshBlob()).Plaintext);
        }
    }

    [Fact]
    public void KeyBlockSize_IsTheModulusSize()
    {
        using var decryptor = new QueryDecryptor(CryptoVectors.PrivateKeyPem);
        Assert.Equal(256, decryptor.KeyBlockSize);
    }

    [Fact]
    public void Decrypt_AfterDispose_Throws()
    {
        var decryptor = new QueryDecryptor(CryptoVectors.PrivateKeyPem);
        decryptor.Dispose();

        Assert.Throws<ObjectDisposedException>(() => decryptor.Decrypt(FreshBlob()));
    }
}
