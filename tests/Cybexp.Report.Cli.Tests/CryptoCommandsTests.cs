using System.Text;
using System.Text.Json;

namespace Cybexp.Report.Cli.Tests;

/// <summary>The keygen, encrypt and decrypt commands, run in-process with captured streams and a temp folder.</summary>
public sealed class CryptoCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-crypto-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed record Run(int ExitCode, string Out, string Err);

    private static async Task<Run> RunWithStdinAsync(string stdin, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var input = new StringReader(stdin);
        int code = await CliApp.RunAsync(args, stdout, stderr, input);
        return new Run(code, stdout.ToString(), stderr.ToString());
    }

    private static Task<Run> RunAsync(params string[] args) => RunWithStdinAsync("", args);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private async Task<(string Private, string Public)> KeygenAsync(string sub = "keys")
    {
        var run = await RunAsync("keygen", "--out", PathOf(sub));
        Assert.True(run.ExitCode == 0, run.Err);
        return (Path.Combine(PathOf(sub), "priv.pem"), Path.Combine(PathOf(sub), "pub.pem"));
    }

    /// <summary>The vector key pair written to files: quicker than generating one for tests not about keygen.</summary>
    private async Task<(string Private, string Public)> VectorKeysAsync()
    {
        string priv = PathOf("vector-priv.pem");
        string pub = PathOf("vector-pub.pem");
        await File.WriteAllTextAsync(priv, CryptoVectorFile.Root.GetProperty("private_key_pem").GetString());
        await File.WriteAllTextAsync(pub, CryptoVectorFile.Root.GetProperty("public_key_pem").GetString());
        return (priv, pub);
    }

    [Fact]
    public async Task Keygen_WritesAnOwnerOnlyPrivateKeyAndAPublicKey_AndPrintsThePaths()
    {
        var (priv, pub) = await KeygenAsync();

        Assert.StartsWith("-----BEGIN RSA PRIVATE KEY-----", await File.ReadAllTextAsync(priv), StringComparison.Ordinal);
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", await File.ReadAllTextAsync(pub), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(priv));
        }

        var again = await RunAsync("keygen", "--out", PathOf("keys2"));
        Assert.Contains(Path.Combine(PathOf("keys2"), "priv.pem"), again.Out, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(PathOf("keys2"), "pub.pem"), again.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keygen_RefusesToOverwrite_UnlessForced()
    {
        var (priv, _) = await KeygenAsync();
        string before = await File.ReadAllTextAsync(priv);

        var refused = await RunAsync("keygen", "--out", PathOf("keys"));
        Assert.Equal(ExitCodes.Failure, refused.ExitCode);
        Assert.Contains("refusing to overwrite", refused.Err, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllTextAsync(priv));

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(priv, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        }

        var forced = await RunAsync("keygen", "--out", PathOf("keys"), "--force");
        Assert.Equal(ExitCodes.Ok, forced.ExitCode);
        Assert.NotEqual(before, await File.ReadAllTextAsync(priv));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(priv));
        }
    }

    [Theory]
    [InlineData("1024")]
    [InlineData("2047")]
    [InlineData("8192")]
    public async Task Keygen_RefusesUnsupportedSizes(string bits)
    {
        var run = await RunAsync("keygen", "--out", PathOf("keys"), "--bits", bits);

        Assert.NotEqual(ExitCodes.Ok, run.ExitCode);
        Assert.Contains("--bits must be 2048, 3072 or 4096", run.Err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(PathOf("keys")));
    }

    [Theory]
    [InlineData("base64")]
    [InlineData("bytes-literal")]
    [InlineData("raw")]
    public async Task EncryptThenDecrypt_RoundTrips_InEveryOutputForm(string format)
    {
        var (priv, pub) = await KeygenAsync();
        const string query = "{\"data\": \"\\\"1.1.1.1\\\"\", \"sub_type\": \"\\\"ipv4\\\"\", \"note\": \"h\u00e9llo\"}";
        await File.WriteAllTextAsync(PathOf("query.json"), query);

        var encrypted = await RunAsync("encrypt", "--key", pub, PathOf("query.json"), "--format", format);
        Assert.True(encrypted.ExitCode == 0, encrypted.Err);
        // Raw output to a test writer is one Latin-1 character per byte.
        byte[] blobFile = format == "raw" ? Encoding.Latin1.GetBytes(encrypted.Out) : Encoding.UTF8.GetBytes(encrypted.Out);
        Assert.Equal(format == "bytes-literal", encrypted.Out.StartsWith("b'", StringComparison.Ordinal) || encrypted.Out.StartsWith("b\"", StringComparison.Ordinal));
        await File.WriteAllBytesAsync(PathOf("blob"), blobFile);

        var decrypted = await RunAsync("decrypt", "--key", priv, PathOf("blob"));

        Assert.Equal(ExitCodes.Ok, decrypted.ExitCode);
        Assert.Equal(query, decrypted.Out);
        Assert.Equal("", decrypted.Err);
    }

    [Fact]
    public async Task Encrypt_ReadsStandardInput_AndDecrypt_ReadsStandardInput()
    {
        var (priv, pub) = await VectorKeysAsync();

        var encrypted = await RunWithStdinAsync("{\"_hash\": \"\\\"abc\\\"\"}", "encrypt", "--key", pub);
        var decrypted = await RunWithStdinAsync(encrypted.Out, "decrypt", "--key", priv, "-");

        Assert.Equal(ExitCodes.Ok, decrypted.ExitCode);
        Assert.Equal("{\"_hash\": \"\\\"abc\\\"\"}", decrypted.Out);
    }

    [Theory]
    [InlineData("valid-001", "ciphertext_b64")]
    [InlineData("valid-001", "tdql_qdata_python_repr")]
    [InlineData("valid-006", "tdql_qdata_python_repr")]
    public async Task Decrypt_ReadsTheOriginalsCiphertexts(string id, string field)
    {
        var testCase = CryptoVectorFile.Case(id);
        await File.WriteAllTextAsync(PathOf("priv.pem"), CryptoVectorFile.Root.GetProperty("private_key_pem").GetString());

        var run = await RunWithStdinAsync(testCase.GetProperty(field).GetString()!, "decrypt", "--key", PathOf("priv.pem"));

        Assert.Equal(ExitCodes.Ok, run.ExitCode);
        Assert.Equal(testCase.GetProperty("expected").GetProperty("plaintext").GetString(), run.Out);
    }

    [Theory]
    [InlineData("tampered-001", "key unwrap")]
    [InlineData("tampered-003", "authentication tag")]
    [InlineData("tampered-012", "format")]
    [InlineData("variant-key31", "key unwrap")]
    public async Task Decrypt_ReportsTheFailingStage_AndExitsWith2(string id, string stage)
    {
        await File.WriteAllTextAsync(PathOf("priv.pem"), CryptoVectorFile.Root.GetProperty("private_key_pem").GetString());
        await File.WriteAllBytesAsync(PathOf("blob.bin"), Convert.FromBase64String(CryptoVectorFile.Case(id).GetProperty("ciphertext_b64").GetString()!));

        var run = await RunAsync("decrypt", "--key", PathOf("priv.pem"), PathOf("blob.bin"));

        Assert.Equal(ExitCodes.Invalid, run.ExitCode);
        Assert.StartsWith($"decryption failed at {stage}: ", run.Err, StringComparison.Ordinal);
        Assert.Equal("", run.Out);
    }

    [Theory]
    [InlineData("not base64 at all!", "neither base64 nor a Python bytes literal")]
    [InlineData("b'\\x8f\\x0", "not a valid Python bytes literal: position")]
    [InlineData("b'unterminated", "unterminated")]
    public async Task Decrypt_RejectsUnreadableText_AtFormat(string text, string expected)
    {
        var (priv, _) = await VectorKeysAsync();

        var run = await RunWithStdinAsync(text, "decrypt", "--key", priv);

        Assert.Equal(ExitCodes.Invalid, run.ExitCode);
        Assert.StartsWith("decryption failed at format: ", run.Err, StringComparison.Ordinal);
        Assert.Contains(expected, run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decrypt_WithAPublicKey_SaysSo_AndExitsWith1()
    {
        var (_, pub) = await VectorKeysAsync();

        var run = await RunWithStdinAsync("AAAA", "decrypt", "--key", pub);

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.Contains("a public key was given where the private key is needed", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encrypt_WithAPrivateKey_SaysSo_AndExitsWith1()
    {
        var (priv, _) = await VectorKeysAsync();

        var run = await RunWithStdinAsync("{}", "encrypt", "--key", priv);

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.Contains("a private key was given where the public key is needed", run.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("decrypt")]
    [InlineData("encrypt")]
    public async Task MissingKeyFile_IsNamed_AndExitsWith1(string command)
    {
        var run = await RunWithStdinAsync("{}", command, "--key", PathOf("absent.pem"));

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.Equal($"key file '{PathOf("absent.pem")}' does not exist", run.Err.TrimEnd());
    }

    [Fact]
    public async Task MissingInputFile_IsNamed_AndExitsWith1()
    {
        var (priv, _) = await VectorKeysAsync();

        var run = await RunAsync("decrypt", "--key", priv, PathOf("absent.bin"));

        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.Contains($"input file '{PathOf("absent.bin")}' does not exist", run.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("keygen", "cybexp-report keygen --out")]
    [InlineData("encrypt", "cybexp-report encrypt --key")]
    [InlineData("decrypt", "cybexp-report decrypt --key")]
    public async Task Help_ShowsAnExample(string command, string example)
    {
        var run = await RunAsync(command, "--help");

        Assert.Equal(ExitCodes.Ok, run.ExitCode);
        Assert.Contains("Example: " + example, run.Out, StringComparison.Ordinal);
    }
}

/// <summary><c>vectors/crypto.json</c>, copied next to the test assembly.</summary>
internal static class CryptoVectorFile
{
    private static readonly Lazy<JsonElement> Document = new(() =>
    {
        string path = Path.Combine(AppContext.BaseDirectory, "vectors", "crypto.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.Clone();
    });

    public static JsonElement Root => Document.Value;

    public static JsonElement Case(string id) =>
        Root.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("id").GetString() == id);
}
