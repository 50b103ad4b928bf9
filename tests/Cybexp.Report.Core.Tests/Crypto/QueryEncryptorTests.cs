using System.Text;
using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Core.Tests.Crypto;

public sealed class QueryEncryptorTests
{
    private static readonly byte[] SpecKey = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] SpecNonce = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
    private const string SpecPlaintext = "{\"data\": \"\\\"1.1.1.1\\\"\", \"sub_type\": \"\\\"ipv4\\\"\"}";

    [Fact]
    public void Encrypt_DrawsKeyThenNonce_AndLaysOutKeyBlockNonceTagBody()
    {
        using var encryptor = new QueryEncryptor(CryptoVectors.PublicKeyPem, new QueuedRandom(SpecKey, SpecNonce));

        byte[] blob = encryptor.Encrypt(SpecPlaintext);

        // With the spec's key and nonce, tag and body are the PyCryptodome known answer (spec §4).
        Assert.Equal(256 + 16 + 16 + 47, blob.Length);
        Assert.Equal(SpecNonce, blob[256..272]);
        Assert.Equal("03a1c4772fef09f5b73c882615c940e3", Convert.ToHexStringLower(blob.AsSpan(272, 16)));
        Assert.Equal(
            "0fb0f77dbd30270060503e02b35d006f68fed214e67ace8271412e45dc01b3696d0a2be3266a5970d5eb904655d2d1",
            Convert.ToHexStringLower(blob.AsSpan(288)));
    }

    [Fact]
    public void Encrypt_OutputDecryptsWithTheVectorPrivateKey()
    {
        using var encryptor = new QueryEncryptor(CryptoVectors.PublicKeyPem, new QueuedRandom(SpecKey, SpecNonce));
        using var decryptor = new QueryDecryptor(CryptoVectors.PrivateKeyPem);

        var result = decryptor.Decrypt(encryptor.Encrypt(SpecPlaintext));

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(SpecPlaintext, result.Plaintext);
    }

    [Theory]
    [InlineData("")]
    [InlineData("x")]
    [InlineData("h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \ud83d\ude00")]
    [InlineData("{\n  \"nul\": \"\u0000\"\n}\n")]
    public void EncryptThenDecrypt_RoundTrips(string plaintext)
    {
        using var encryptor = new QueryEncryptor(CryptoVectors.PublicKeyPem);
        using var decryptor = new QueryDecryptor(CryptoVectors.PrivateKeyPkcs8Pem);

        var result = decryptor.Decrypt(encryptor.Encrypt(plaintext));

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(plaintext, result.Plaintext);
    }

    [Fact]
    public void Encrypt_WithTheSystemGenerator_NeverRepeatsNonceOrKeyBlock()
    {
        using var encryptor = new QueryEncryptor(CryptoVectors.PublicKeyPem);

        byte[] first = encryptor.Encrypt("same");
        byte[] second = encryptor.Encrypt("same");

        Assert.NotEqual(first[..256], second[..256]);
        Assert.NotEqual(first[256..272], second[256..272]);
    }

    [Fact]
    public void TenMegabytePlaintext_RoundTrips()
    {
        var text = new StringBuilder(10 * 1024 * 1024);
        while (text.Length < 10 * 1024 * 1024 - 8)
        {
            text.Append("{\"data\": \u00e9\u65e5}\n");
        }

        string plaintext = text.ToString();
        using var encryptor = new QueryEncryptor(CryptoVectors.PublicKeyPem);
        using var decryptor = new QueryDecryptor(CryptoVectors.PrivateKeyPem);

        byte[] blob = encryptor.Encrypt(plaintext);
        var result = decryptor.Decrypt(blob);

        Assert.Equal(288 + Encoding.UTF8.GetByteCount(plaintext), blob.Length);
        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(plaintext, result.Plaintext);
    }

    [Fact]
    public void FromPem_RefusesAPrivateKey()
    {
        var result = QueryEncryptor.FromPem(CryptoVectors.PrivateKeyPem);

        Assert.False(result.IsSuccess);
        Assert.Equal("a private key was given where the public key is needed", result.Error);
    }

    [Fact]
    public void FromPem_AcceptsPkcs1PublicKey()
    {
        using var rsa = System.Security.Cryptography.RSA.Create();
        rsa.ImportFromPem(CryptoVectors.PublicKeyPem);
        string pkcs1 = rsa.ExportRSAPublicKeyPem();
        Assert.StartsWith("-----BEGIN RSA PUBLIC KEY-----", pkcs1, StringComparison.Ordinal);

        var encryptor = QueryEncryptor.FromPem(pkcs1);
        Assert.True(encryptor.IsSuccess, encryptor.ToString());
        using var decryptor = new QueryDecryptor(CryptoVectors.PrivateKeyPem);
        using (encryptor.Value)
        {
            Assert.Equal("q", decryptor.Decrypt(encryptor.Value.Encrypt("q")).Plaintext);
        }
    }

    [Fact]
    public void Constructor_ThrowsWithTheSameMessage_ForAPrivateKey()
    {
        var e = Assert.Throws<ArgumentException>(() => new QueryEncryptor(CryptoVectors.PrivateKeyPem));
        Assert.StartsWith("a private key was given where the public key is needed", e.Message, StringComparison.Ordinal);
    }
}
