using System.Text.Json;

namespace Cybexp.Report.Core.Tests.Crypto;

/// <summary>The cases of <c>vectors/crypto.json</c>, produced by the original encrypt_file/decrypt_file.</summary>
internal static class CryptoVectors
{
    private static readonly Lazy<JsonElement> Root = new(() =>
    {
        using var stream = File.OpenRead(Vectors.Path("crypto.json"));
        using var document = JsonDocument.Parse(stream);
        return document.RootElement.Clone();
    });

    public static string PrivateKeyPem => Root.Value.GetProperty("private_key_pem").GetString()!;

    public static string PrivateKeyPkcs8Pem => Root.Value.GetProperty("private_key_pkcs8_pem").GetString()!;

    public static string PublicKeyPem => Root.Value.GetProperty("public_key_pem").GetString()!;

    public static IEnumerable<JsonElement> Cases => Root.Value.GetProperty("cases").EnumerateArray();

    public static IEnumerable<JsonElement> EaxKnownAnswers => Root.Value.GetProperty("aes_eax_known_answers").EnumerateArray();

    public static JsonElement Case(string id) => Cases.Single(c => c.GetProperty("id").GetString() == id);

    public static JsonElement EaxKnownAnswer(string id) => EaxKnownAnswers.Single(c => c.GetProperty("id").GetString() == id);

    public static byte[] Ciphertext(JsonElement testCase) =>
        Convert.FromBase64String(testCase.GetProperty("ciphertext_b64").GetString()!);

    /// <summary>Case ids, for <c>[MemberData]</c>: the id is the only argument, so a failing case is named by it.</summary>
    public static TheoryData<string> CaseIds() => Ids(Cases);

    public static TheoryData<string> CaseIdsWithRepr() =>
        Ids(Cases.Where(c => c.TryGetProperty("tdql_qdata_python_repr", out _)));

    public static TheoryData<string> EaxIds() => Ids(EaxKnownAnswers);

    private static TheoryData<string> Ids(IEnumerable<JsonElement> cases)
    {
        var data = new TheoryData<string>();
        foreach (var c in cases)
        {
            data.Add(c.GetProperty("id").GetString()!);
        }

        return data;
    }
}
