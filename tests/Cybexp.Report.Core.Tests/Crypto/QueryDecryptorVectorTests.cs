using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Core.Tests.Crypto;

/// <summary>Every case of <c>vectors/crypto.json</c>, decrypted with the vector key pair.</summary>
public sealed class QueryDecryptorVectorTests
{
    public static TheoryData<string> CaseIds => CryptoVectors.CaseIds();

    public static TheoryData<string> ReprCaseIds => CryptoVectors.CaseIdsWithRepr();

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Decrypt_MatchesTheOriginal_WithPkcs1Key(string id) =>
        AssertMatchesOriginal(id, CryptoVectors.PrivateKeyPem);

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Decrypt_MatchesTheOriginal_WithPkcs8Key(string id) =>
        AssertMatchesOriginal(id, CryptoVectors.PrivateKeyPkcs8Pem);

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Blob_PlacesNonceAndTagWhereTheOriginalDid(string id)
    {
        var testCase = CryptoVectors.Case(id);
        byte[] blob = CryptoVectors.Ciphertext(testCase);
        Assert.Equal(testCase.GetProperty("ciphertext_len").GetInt32(), blob.Length);
        if (!testCase.TryGetProperty("debug", out var debug))
        {
            return; // The original could not unwrap the key, so it recorded no nonce or tag.
        }

        Assert.Equal(debug.GetProperty("nonce_hex").GetString(), Convert.ToHexStringLower(blob.AsSpan(256, 16)));
        Assert.Equal(debug.GetProperty("tag_hex").GetString(), Convert.ToHexStringLower(blob.AsSpan(272, Math.Min(16, blob.Length - 272))));
    }

    [Theory]
    [MemberData(nameof(ReprCaseIds))]
    public void StoredRepr_ParsesToTheCiphertextBytes(string id)
    {
        var testCase = CryptoVectors.Case(id);
        string repr = testCase.GetProperty("tdql_qdata_python_repr").GetString()!;

        var parsed = PythonBytesLiteral.Parse(repr);

        Assert.True(parsed.IsSuccess, parsed.ToString());
        Assert.Equal(CryptoVectors.Ciphertext(testCase), parsed.Value);
    }

    [Theory]
    [MemberData(nameof(ReprCaseIds))]
    public void Format_ReproducesTheStoredReprExactly(string id)
    {
        var testCase = CryptoVectors.Case(id);

        string formatted = PythonBytesLiteral.Format(CryptoVectors.Ciphertext(testCase));

        Assert.Equal(testCase.GetProperty("tdql_qdata_python_repr").GetString(), formatted);
    }

    [Theory]
    [MemberData(nameof(ReprCaseIds))]
    public void StoredRepr_DecryptsLikeTheBase64Form(string id)
    {
        var testCase = CryptoVectors.Case(id);
        var ciphertext = QueryCiphertext.Parse(testCase.GetProperty("tdql_qdata_python_repr").GetString()!);
        Assert.True(ciphertext.IsSuccess, ciphertext.ToString());
        Assert.Equal(CiphertextForm.BytesLiteral, ciphertext.Value.Form);

        using var decryptor = new QueryDecryptor(CryptoVectors.PrivateKeyPem);
        var result = decryptor.Decrypt(ciphertext.Value);

        Assert.True(result.IsSuccess, result.ToString());
        Assert.Equal(testCase.GetProperty("expected").GetProperty("plaintext").GetString(), result.Plaintext);
    }

    private static void AssertMatchesOriginal(string id, string privateKeyPem)
    {
        var testCase = CryptoVectors.Case(id);
        byte[] blob = CryptoVectors.Ciphertext(testCase);
        var expected = testCase.GetProperty("expected");
        using var decryptor = new QueryDecryptor(privateKeyPem);

        var result = decryptor.Decrypt(blob);

        if (expected.GetProperty("ok").GetBoolean())
        {
            Assert.True(result.IsSuccess, result.ToString());
            Assert.Equal(expected.GetProperty("plaintext").GetString(), result.Plaintext);
            if (testCase.TryGetProperty("plaintext_sha256", out var sha))
            {
                Assert.Equal(sha.GetString(), Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(result.Plaintext))));
            }
        }
        else
        {
            Assert.False(result.IsSuccess, $"expected a failure at {expected.GetProperty("stage").GetString()}");
            Assert.Equal(ExpectedStage(blob.Length, expected), result.Failure.Stage);
            Assert.StartsWith("decryption failed at " + result.Failure.StageName + ": ", result.Failure.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Maps the original's failure stage to ours. We check the length before anything else, so a blob too short for
    /// key block + nonce + tag fails at <c>format</c> whatever the original said (it said <c>rsa_oaep</c> for 0 and
    /// 100 bytes, and <c>aes_eax_verify</c> for a 10-byte tag). A session key of the wrong length (<c>aes_key</c>)
    /// comes out of the key unwrap, so it is a <c>key unwrap</c> failure for us. <c>aes_eax_init</c> can only come from
    /// a short nonce, i.e. a short blob. Any other stage is new and needs a decision, so the test fails.
    /// </summary>
    private static DecryptionStage ExpectedStage(int blobLength, JsonElement expected)
    {
        if (blobLength < QueryCipherLayout.MinimumLength(256))
        {
            return DecryptionStage.Format;
        }

        string stage = expected.GetProperty("stage").GetString()!;
        return stage switch
        {
            "rsa_oaep" => DecryptionStage.KeyUnwrap,
            "aes_key" => DecryptionStage.KeyUnwrap,
            "aes_eax_init" => DecryptionStage.Format,
            "aes_eax_verify" => DecryptionStage.AuthenticationTag,
            "utf8_decode" => DecryptionStage.Utf8,
            _ => throw new InvalidOperationException($"vector stage '{stage}' has no mapping; decide what ours should be"),
        };
    }
}
