using System.CommandLine;
using System.Text;
using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Cli.Commands;

/// <summary><c>cybexp-report encrypt</c>: encrypts a query exactly as the original API does.</summary>
public static class EncryptCommand
{
    /// <summary>Builds the command; it writes only to <paramref name="io"/>.</summary>
    public static Command Create(CliIo io)
    {
        var keyOption = new Option<string>("--key")
        {
            Description = "Public key PEM file (BEGIN PUBLIC KEY or BEGIN RSA PUBLIC KEY).",
            Required = true,
            HelpName = "PUBLIC.pem",
        };
        var formatOption = new Option<string>("--format")
        {
            Description = "Output form: base64 (default), bytes-literal (Python repr, as stored in TDQL qdata) or raw bytes.",
            DefaultValueFactory = _ => "base64",
        };
        formatOption.AcceptOnlyFromAmong("base64", "bytes-literal", "raw");
        var inputArgument = new Argument<string>("FILE")
        {
            Description = "Plaintext file, or - for standard input (default).",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => FileOrStdin.Stdin,
        };

        var command = new Command(
            "encrypt",
            "Encrypt a query for the report module: RSA-OAEP (SHA-1) wrapped AES-256 key, AES-EAX; output "
            + "enc_key || nonce || tag || ciphertext.\n"
            + "Example: cybexp-report encrypt --key keys/pub.pem query.json --format bytes-literal")
        {
            keyOption,
            formatOption,
            inputArgument,
        };
        command.SetAction((parseResult, ct) => RunAsync(
            io,
            parseResult.GetRequiredValue(keyOption),
            parseResult.GetValue(inputArgument) ?? FileOrStdin.Stdin,
            parseResult.GetValue(formatOption) ?? "base64",
            ct));
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, string keyPath, string inputPath, string format, CancellationToken ct)
    {
        var pem = await FileOrStdin.ReadKeyFileAsync(keyPath, io, ct).ConfigureAwait(false);
        if (!pem.TryGetValue(out string? pemText, out string? keyError))
        {
            await io.Err.WriteLineAsync(keyError).ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        var loaded = QueryEncryptor.FromPem(pemText);
        if (!loaded.TryGetValue(out QueryEncryptor? encryptor, out string? pemError))
        {
            await io.Err.WriteLineAsync($"key file '{keyPath}': {pemError}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        using (encryptor)
        {
            var input = await FileOrStdin.ReadAllBytesAsync(inputPath, "input file", io, ct).ConfigureAwait(false);
            if (!input.TryGetValue(out byte[]? plaintext, out string? inputError))
            {
                await io.Err.WriteLineAsync(inputError).ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            var blob = QueryCiphertext.FromBytes(encryptor.Encrypt(plaintext));
            switch (format)
            {
                case "bytes-literal":
                    await io.Out.WriteLineAsync(blob.ToBytesLiteral()).ConfigureAwait(false);
                    break;
                case "raw":
                    await WriteRawAsync(io, blob.Bytes, ct).ConfigureAwait(false);
                    break;
                default:
                    await io.Out.WriteLineAsync(blob.ToBase64()).ConfigureAwait(false);
                    break;
            }
        }

        return ExitCodes.Ok;
    }

    /// <summary>
    /// Raw bytes go to the process's binary standard output when <see cref="CliIo.Out"/> is the console. Any other
    /// writer (tests) gets one Latin-1 character per byte, which maps back to the exact bytes.
    /// </summary>
    private static async Task WriteRawAsync(CliIo io, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        if (ReferenceEquals(io.Out, Console.Out))
        {
            await io.Out.FlushAsync(ct).ConfigureAwait(false);
            using var stdout = Console.OpenStandardOutput();
            await stdout.WriteAsync(bytes, ct).ConfigureAwait(false);
            await stdout.FlushAsync(ct).ConfigureAwait(false);
            return;
        }

        await io.Out.WriteAsync(Encoding.Latin1.GetString(bytes.Span)).ConfigureAwait(false);
    }
}
