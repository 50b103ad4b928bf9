using Cybexp.Report.Core.Crypto;

namespace Cybexp.Report.Cli.Commands;

/// <summary>Reads a command's input from a named file, or from standard input when the name is <c>-</c>.</summary>
internal static class FileOrStdin
{
    /// <summary>The conventional name for standard input.</summary>
    public const string Stdin = "-";

    /// <summary>
    /// The bytes of <paramref name="path"/>, or of standard input for <c>-</c>. When <see cref="CliIo.In"/> is the
    /// process's console reader the binary stream is read, so raw input survives; any other reader (tests) is text,
    /// which is taken as UTF-8. On failure the message names the file and the problem.
    /// </summary>
    public static async Task<CryptoResult<byte[]>> ReadAllBytesAsync(string path, string what, CliIo io, CancellationToken ct)
    {
        if (path == Stdin)
        {
            if (ReferenceEquals(io.In, Console.In))
            {
                using var stdin = Console.OpenStandardInput();
                using var buffer = new MemoryStream();
                await stdin.CopyToAsync(buffer, ct).ConfigureAwait(false);
                return CryptoResult<byte[]>.Success(buffer.ToArray());
            }

            string text = await io.In.ReadToEndAsync(ct).ConfigureAwait(false);
            return CryptoResult<byte[]>.Success(System.Text.Encoding.UTF8.GetBytes(text));
        }

        try
        {
            return CryptoResult<byte[]>.Success(await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return CryptoResult<byte[]>.Failure($"{what} '{path}' does not exist");
        }
        catch (UnauthorizedAccessException)
        {
            return CryptoResult<byte[]>.Failure($"{what} '{path}' is not readable (permission denied)");
        }
        catch (IOException e)
        {
            return CryptoResult<byte[]>.Failure($"cannot read {what} '{path}': {e.Message}");
        }
    }

    /// <summary>The text of a key file; a missing or unreadable file gives a message naming it.</summary>
    public static async Task<CryptoResult<string>> ReadKeyFileAsync(string path, CliIo io, CancellationToken ct)
    {
        if (path == Stdin)
        {
            return CryptoResult<string>.Failure("the key must be a file, not standard input");
        }

        var bytes = await ReadAllBytesAsync(path, "key file", io, ct).ConfigureAwait(false);
        return bytes.TryGetValue(out byte[]? value, out string? error)
            ? CryptoResult<string>.Success(System.Text.Encoding.UTF8.GetString(value))
            : CryptoResult<string>.Failure(error);
    }
}
