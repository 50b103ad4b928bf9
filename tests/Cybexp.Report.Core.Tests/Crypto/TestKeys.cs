using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Core.Tests.Crypto;

/// <summary>Key pairs generated once per test run (generation is slow).</summary>
internal static class TestKeys
{
    private static readonly Lazy<RsaKeyPair> OtherPair = new(() => RsaKeyPair.Generate(2048));
    private static readonly Lazy<RsaKeyPair> LargePair = new(() => RsaKeyPair.Generate(3072));

    /// <summary>A 2048-bit pair unrelated to the vector key.</summary>
    public static RsaKeyPair Other2048 => OtherPair.Value;

    /// <summary>A 3072-bit pair.</summary>
    public static RsaKeyPair Pair3072 => LargePair.Value;
}
