using System.CommandLine;
using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Cli.Commands;

/// <summary><c>cybexp-report decrypt</c>: decrypts a query blob as the original report module does.</summary>
public static class DecryptCommand
{
    /// <summary>Builds the command; it writes only to <paramref name="io"/>.</summary>
    public static Command Create(CliIo io)
    {
        var keyOption = new Option<string>("--key")
        {
            Description = "Private key PEM file (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY).",
            Required = true,
            HelpName = "PRIVATE.pem",
        };
        var inputArgument = new Argument<string>("FILE")
        {
            Description = "Encrypted blob: raw bytes, base64 text or a Python bytes literal (b'...'); - for standard input (default).",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => FileOrStdin.Stdin,
        };

        var command = new Command(
            "decrypt",
            "Decrypt a query blob and print its plaintext exactly (no newline is added). On failure prints "
            + "'decryption failed at <stage>: <reason>' and exits with 2.\n"
            + "Example: cybexp-report decrypt --key keys/priv.pem qdata.txt")
        {
            keyOption,
            inputArgument,
        };
        command.SetAction((parseResult, ct) => RunAsync(
            io,
            parseResult.GetRequiredValue(keyOption),
            parseResult.GetValue(inputArgument) ?? FileOrStdin.Stdin,
            ct));
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, string keyPath, string inputPath, CancellationToken ct)
    {
        var pem = await FileOrStdin.ReadKeyFileAsync(keyPath, io, ct).ConfigureAwait(false);
        if (!pem.TryGetValue(out string? pemText, out string? keyError))
        {
            await io.Err.WriteLineAsync(keyError).ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        var loaded = QueryDecryptor.FromPem(pemText);
        if (!loaded.TryGetValue(out QueryDecryptor? decryptor, out string? pemError))
        {
            await io.Err.WriteLineAsync($"key file '{keyPath}': {pemError}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        using (decryptor)
        {
            var input = await FileOrStdin.ReadAllBytesAsync(inputPath, "input file", io, ct).ConfigureAwait(false);
            if (!input.TryGetValue(out byte[]? bytes, out string? inputError))
            {
                await io.Err.WriteLineAsync(inputError).ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            var ciphertext = QueryCiphertext.FromInput(bytes);
            if (!ciphertext.TryGetValue(out QueryCiphertext? blob, out string? formError))
            {
                string message = new DecryptionFailure(DecryptionStage.Format, formError).Message;
                await io.Err.WriteLineAsync(message).ConfigureAwait(false);
                return ExitCodes.Invalid;
            }

            var result = decryptor.Decrypt(blob);
            if (!result.IsSuccess)
            {
                await io.Err.WriteLineAsync(result.Failure.Message).ConfigureAwait(false);
                return ExitCodes.Invalid;
            }

            await io.Out.WriteAsync(result.Plaintext).ConfigureAwait(false);
            await io.Out.FlushAsync(ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }
}
