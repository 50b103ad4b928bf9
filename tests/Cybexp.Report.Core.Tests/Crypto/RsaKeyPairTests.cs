using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Core.Tests.Crypto;

public sealed class RsaKeyPairTests
{
    [Fact]
    public void Generate_WritesPkcs1PrivateAndSpkiPublicPem_ThatRoundTrip()
    {
        var pair = RsaKeyPair.Generate();

        Assert.Equal(2048, pair.Bits);
        Assert.StartsWith("-----BEGIN RSA PRIVATE KEY-----\n", pair.PrivateKeyPem, StringComparison.Ordinal);
        Assert.EndsWith("-----END RSA PRIVATE KEY-----\n", pair.PrivateKeyPem, StringComparison.Ordinal);
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----\n", pair.PublicKeyPem, StringComparison.Ordinal);
        Assert.EndsWith("-----END PUBLIC KEY-----\n", pair.PublicKeyPem, StringComparison.Ordinal);
        AssertRoundTrip(pair, expectedKeyBlock: 256);
    }

    [Fact]
    public void Generate3072_RoundTrips_WithA384ByteKeyBlock()
    {
        var pair = TestKeys.Pair3072;

        Assert.Equal(3072, pair.Bits);
        AssertRoundTrip(pair, expectedKeyBlock: 384);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1024)]
    [InlineData(2047)]
    [InlineData(8192)]
    public void Generate_RefusesOtherSizes(int bits) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => RsaKeyPair.Generate(bits));

    [Fact]
    public void ToString_DoesNotRevealThePrivateKey() =>
        Assert.Equal("RsaKeyPair(3072 bits)", TestKeys.Pair3072.ToString());

    private static void AssertRoundTrip(RsaKeyPair pair, int expectedKeyBlock)
    {
        using var encryptor = new QueryEncryptor(pair.PublicKeyPem);
        using var decryptor = new QueryDecryptor(pair.PrivateKeyPem);
        const string plaintext = "{\"_hash\": \"\\\"abc\\\"\"}";
        byte[] blob = encryptor.Encrypt(plaintext);

        var result = decryptor.Decrypt(blob);

        Assert.Equal(expectedKeyBlock, decryptor.KeyBlockSize);
        Assert.Equal(expectedKeyBlock + 32 + plaintext.Length, blob.Length);
        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(plaintext, result.Plaintext);
    }
}
