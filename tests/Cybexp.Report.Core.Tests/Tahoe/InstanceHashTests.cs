using System.Security.Cryptography;
using System.Text;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

public class InstanceHashTests
{
    [Fact]
    public void On_linux_digests_come_from_libcrypto_directly()
    {
        // .NET itself needs libcrypto on Linux, so the direct path must be found there; a silent fallback would
        // cost a tenth of every event's hashing time.
        Assert.Equal(OperatingSystem.IsLinux(), Sha256Direct.IsDirect);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(55)]
    [InlineData(56)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(1358)]
    [InlineData(100_000)]
    public void Direct_digest_equals_dotnet_sha256(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        var direct = new byte[32];
        Sha256Direct.Hash(data, direct);
        Assert.Equal(SHA256.HashData(data), direct);

        var managed = new byte[32];
        Sha256Direct.Managed(data, managed);
        Assert.Equal(SHA256.HashData(data), managed);
    }

    [Fact]
    public void Direct_digest_equals_dotnet_sha256_from_many_threads()
    {
        Parallel.For(0, 2_000, i =>
        {
            var data = Encoding.UTF8.GetBytes(new string((char)('a' + (i % 26)), i));
            var direct = new byte[32];
            Sha256Direct.Hash(data, direct);
            Assert.Equal(SHA256.HashData(data), direct);
        });
    }

    [Fact]
    public void Known_digest_of_empty_text()
    {
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", InstanceHash.Of(string.Empty).Value);
    }

    [Fact]
    public void A_short_digest_buffer_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Sha256Direct.Hash([1, 2, 3], new byte[31]));
    }

    [Theory]
    [InlineData("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991B7852b855")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    public void Parse_accepts_either_case_and_yields_lowercase(string text)
    {
        Assert.True(InstanceHash.TryParse(text, out var hash));
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hash.Value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555")]
    [InlineData("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85 ")]
    public void Parse_refuses_anything_but_64_hex_digits(string? text)
    {
        Assert.False(InstanceHash.TryParse(text, out _));
    }
}
