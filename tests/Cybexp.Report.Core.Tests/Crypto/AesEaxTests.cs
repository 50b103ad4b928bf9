using System.Text;
using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Core.Tests.Crypto;

/// <summary>AES-EAX known answers computed with PyCryptodome.</summary>
public sealed class AesEaxTests
{
    public static TheoryData<string> EaxIds => CryptoVectors.EaxIds();

    [Theory]
    [MemberData(nameof(EaxIds))]
    public void Encrypt_GivesTheKnownCiphertextAndTag(string id)
    {
        var (key, nonce, plaintext, ciphertext, tag) = Load(id);
        var actualCiphertext = new byte[plaintext.Length];
        var actualTag = new byte[16];

        AesEax.Encrypt(key, nonce, plaintext, actualCiphertext, actualTag);

        Assert.Equal(Convert.ToHexStringLower(ciphertext), Convert.ToHexStringLower(actualCiphertext));
        Assert.Equal(Convert.ToHexStringLower(tag), Convert.ToHexStringLower(actualTag));
    }

    [Theory]
    [MemberData(nameof(EaxIds))]
    public void TryDecrypt_RecoversTheKnownPlaintext(string id)
    {
        var (key, nonce, plaintext, ciphertext, tag) = Load(id);
        var actual = new byte[ciphertext.Length];

        Assert.True(AesEax.TryDecrypt(key, nonce, ciphertext, tag, actual));
        Assert.Equal(plaintext, actual);
    }

    [Theory]
    [MemberData(nameof(EaxIds))]
    public void TryDecrypt_RejectsAFlippedTagBit(string id)
    {
        var (key, nonce, _, ciphertext, tag) = Load(id);
        tag[^1] ^= 0x01;
        var actual = new byte[ciphertext.Length];

        Assert.False(AesEax.TryDecrypt(key, nonce, ciphertext, tag, actual));
        Assert.All(actual, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Encrypt_MatchesTheSpecKnownAnswer()
    {
        // spec §4: key 0x00..0x1f, nonce 0x00..0x0f, verified with PyCryptodome.
        byte[] key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        byte[] nonce = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        byte[] plaintext = Encoding.ASCII.GetBytes("{\"data\": \"\\\"1.1.1.1\\\"\", \"sub_type\": \"\\\"ipv4\\\"\"}");
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[16];

        AesEax.Encrypt(key, nonce, plaintext, ciphertext, tag);

        Assert.Equal("0fb0f77dbd30270060503e02b35d006f68fed214e67ace8271412e45dc01b3696d0a2be3266a5970d5eb904655d2d1", Convert.ToHexStringLower(ciphertext));
        Assert.Equal("03a1c4772fef09f5b73c882615c940e3", Convert.ToHexStringLower(tag));
    }

    private static (byte[] Key, byte[] Nonce, byte[] Plaintext, byte[] Ciphertext, byte[] Tag) Load(string id)
    {
        var v = CryptoVectors.EaxKnownAnswer(id);
        byte[] Hex(string name) => Convert.FromHexString(v.GetProperty(name).GetString()!);
        return (Hex("key_hex"), Hex("nonce_hex"), Hex("plaintext_hex"), Hex("ciphertext_hex"), Hex("tag_hex"));
    }
}
