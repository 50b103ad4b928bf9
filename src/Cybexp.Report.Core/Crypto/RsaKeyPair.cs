using System.Globalization;
using System.Security.Cryptography;

namespace Cybexp.Report.Core.Crypto;

/// <summary>
/// A freshly generated RSA key pair as PEM text: the private key as PKCS#1 (<c>RSA PRIVATE KEY</c>, the flavour
/// of the original's <c>priv.pem</c>) and the public key as SubjectPublicKeyInfo (<c>PUBLIC KEY</c>, as the
/// original's <c>pub.pem</c>). Each PEM ends with a newline.
/// </summary>
/// <remarks>Generation uses the platform's key generator and system randomness.</remarks>
public sealed class RsaKeyPair
{
    /// <summary>The default modulus size, that of the original key.</summary>
    public const int DefaultBits = 2048;

    private RsaKeyPair(int bits, string privateKeyPem, string publicKeyPem)
    {
        Bits = bits;
        PrivateKeyPem = privateKeyPem;
        PublicKeyPem = publicKeyPem;
    }

    /// <summary>The modulus sizes <see cref="Generate"/> accepts: 2048, 3072 and 4096.</summary>
    public static IReadOnlyList<int> SupportedBits { get; } = [2048, 3072, 4096];

    /// <summary>The modulus size in bits.</summary>
    public int Bits { get; }

    /// <summary>The private key, PKCS#1 PEM.</summary>
    public string PrivateKeyPem { get; }

    /// <summary>The public key, SubjectPublicKeyInfo PEM.</summary>
    public string PublicKeyPem { get; }

    /// <summary>True for 2048, 3072 and 4096.</summary>
    public static bool IsSupported(int bits) => SupportedBits.Contains(bits);

    /// <summary>Generates a key pair; <paramref name="bits"/> must be 2048, 3072 or 4096.</summary>
    public static RsaKeyPair Generate(int bits = DefaultBits)
    {
        if (!IsSupported(bits))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "RSA key size must be 2048, 3072 or 4096 bits");
        }

        using var rsa = RSA.Create(bits);
        return new RsaKeyPair(bits, rsa.ExportRSAPrivateKeyPem() + "\n", rsa.ExportSubjectPublicKeyInfoPem() + "\n");
    }

    /// <summary>Describes the pair without revealing the private key.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"RsaKeyPair({Bits} bits)");
}
