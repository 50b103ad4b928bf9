using System.CommandLine;
using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Cli.Commands;

/// <summary><c>cybexp-report keygen</c>: writes a new RSA key pair as <c>priv.pem</c> and <c>pub.pem</c>.</summary>
public static class KeygenCommand
{
    /// <summary>File name of the private key, as in the original report module.</summary>
    public const string PrivateKeyFileName = "priv.pem";

    /// <summary>File name of the public key, as in the original API.</summary>
    public const string PublicKeyFileName = "pub.pem";

    /// <summary>Builds the command; it writes only to <paramref name="io"/>.</summary>
    public static Command Create(CliIo io)
    {
        var outOption = new Option<string>("--out")
        {
            Description = "Directory to write priv.pem and pub.pem into (created if missing).",
            Required = true,
            HelpName = "DIR",
        };
        var bitsOption = new Option<int>("--bits")
        {
            Description = "RSA modulus size: 2048 (default, as the original), 3072 or 4096.",
            DefaultValueFactory = _ => RsaKeyPair.DefaultBits,
        };
        bitsOption.Validators.Add(result =>
        {
            int bits = result.GetValueOrDefault<int>();
            if (!RsaKeyPair.IsSupported(bits))
            {
                result.AddError($"--bits must be 2048, 3072 or 4096, not {bits}.");
            }
        });
        var forceOption = new Option<bool>("--force")
        {
            Description = "Overwrite existing priv.pem / pub.pem.",
        };

        var command = new Command(
            "keygen",
            "Generate an RSA key pair for query encryption: DIR/priv.pem (PKCS#1, readable only by its owner) and "
            + "DIR/pub.pem (SubjectPublicKeyInfo).\n"
            + "Example: cybexp-report keygen --out ./keys --bits 3072")
        {
            outOption,
            bitsOption,
            forceOption,
        };
        command.SetAction((parseResult, ct) => RunAsync(
            io,
            parseResult.GetRequiredValue(outOption),
            parseResult.GetValue(bitsOption),
            parseResult.GetValue(forceOption),
            ct));
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, string directory, int bits, bool force, CancellationToken ct)
    {
        string privatePath = Path.Combine(directory, PrivateKeyFileName);
        string publicPath = Path.Combine(directory, PublicKeyFileName);
        if (!force)
        {
            foreach (string path in new[] { privatePath, publicPath }.Where(File.Exists))
            {
                await io.Err.WriteLineAsync($"refusing to overwrite existing {path} (use --force)").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        }

        var pair = RsaKeyPair.Generate(bits);
        try
        {
            Directory.CreateDirectory(directory);
            await WritePrivateKeyAsync(privatePath, pair.PrivateKeyPem, ct).ConfigureAwait(false);
            await File.WriteAllTextAsync(publicPath, pair.PublicKeyPem, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await io.Err.WriteLineAsync($"cannot write the key pair to {directory}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        await io.Out.WriteLineAsync($"private key ({bits} bits): {privatePath}").ConfigureAwait(false);
        await io.Out.WriteLineAsync($"public key: {publicPath}").ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static async Task WritePrivateKeyAsync(string path, string pem, CancellationToken ct)
    {
        // A replaced file would keep its old (possibly wider) mode, so remove it and create a new one that is
        // owner-only from the start; the explicit chmod afterwards also undoes any umask surprises.
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        var stream = new FileStream(path, options);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(pem), ct).ConfigureAwait(false);
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
