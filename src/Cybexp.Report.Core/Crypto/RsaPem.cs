using System.Security.Cryptography;

namespace Cybexp.Report.Core.Crypto;

/// <summary>Loads RSA keys from PEM text and tells the user plainly when the wrong kind of key was given.</summary>
internal static class RsaPem
{
    private static readonly string[] PrivateLabels = ["RSA PRIVATE KEY", "PRIVATE KEY"];
    private static readonly string[] PublicLabels = ["PUBLIC KEY", "RSA PUBLIC KEY"];

    internal const string PublicGivenForPrivate = "a public key was given where the private key is needed";
    internal const string PrivateGivenForPublic = "a private key was given where the public key is needed";

    /// <summary>Loads a PKCS#1 (<c>RSA PRIVATE KEY</c>) or PKCS#8 (<c>PRIVATE KEY</c>) RSA private key.</summary>
    public static CryptoResult<RSA> LoadPrivate(string pem) =>
        Load(pem, PrivateLabels, PublicLabels, PublicGivenForPrivate,
            "-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----");

    /// <summary>Loads a SubjectPublicKeyInfo (<c>PUBLIC KEY</c>) or PKCS#1 (<c>RSA PUBLIC KEY</c>) RSA public key.</summary>
    public static CryptoResult<RSA> LoadPublic(string pem) =>
        Load(pem, PublicLabels, PrivateLabels, PrivateGivenForPublic,
            "-----BEGIN PUBLIC KEY----- or -----BEGIN RSA PUBLIC KEY-----");

    private static CryptoResult<RSA> Load(
        string pem, string[] wanted, string[] opposite, string oppositeMessage, string expectedHeaders)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var labelsSeen = new List<string>();
        ReadOnlySpan<char> rest = pem;
        int offset = 0;
        while (PemEncoding.TryFind(rest, out PemFields fields))
        {
            string label = rest[fields.Label].ToString();
            if (wanted.Contains(label, StringComparer.Ordinal))
            {
                return Import(pem.AsSpan(offset + fields.Location.Start.Value, fields.Location.End.Value - fields.Location.Start.Value), label);
            }

            labelsSeen.Add(label);
            int consumed = fields.Location.End.Value;
            rest = rest[consumed..];
            offset += consumed;
        }

        if (labelsSeen.Any(l => opposite.Contains(l, StringComparer.Ordinal)))
        {
            return CryptoResult<RSA>.Failure(oppositeMessage);
        }

        // Legacy OpenSSL encryption puts "Proc-Type: 4,ENCRYPTED" headers inside the block, which RFC 7468
        // parsing does not accept, so such a key shows up as no block at all.
        if (labelsSeen.Contains("ENCRYPTED PRIVATE KEY", StringComparer.Ordinal)
            || pem.Contains("Proc-Type: 4,ENCRYPTED", StringComparison.Ordinal))
        {
            return CryptoResult<RSA>.Failure("the private key is password-protected; give an unencrypted PKCS#1 or PKCS#8 key");
        }

        return labelsSeen.Count == 0
            ? CryptoResult<RSA>.Failure("no PEM key found; expected " + expectedHeaders)
            : CryptoResult<RSA>.Failure("unsupported PEM type '" + string.Join("', '", labelsSeen) + "'; expected " + expectedHeaders);
    }

    private static CryptoResult<RSA> Import(ReadOnlySpan<char> block, string label)
    {
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(block);
            return CryptoResult<RSA>.Success(rsa);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            rsa.Dispose();
            return CryptoResult<RSA>.Failure($"the {label} PEM block is not a readable RSA key: {e.Message}");
        }
    }
}
