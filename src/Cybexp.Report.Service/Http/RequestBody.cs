using System.Text;
using Cybexp.Report.Core.Tahoe;
using Microsoft.AspNetCore.Http;

namespace Cybexp.Report.Service.Http;

/// <summary>A request body read as JSON: the parsed value, or the response that refuses it (400 or 413).</summary>
internal sealed record BodyRead(TahoeValue? Value, IResult? Refusal, string? Error)
{
    public static BodyRead Refused(IResult refusal, string error) => new(null, refusal, error);
}

/// <summary>
/// Reads request bodies with a size limit and Python <c>json.loads</c> semantics (integers of any size, floats as the
/// original reads them), so query data hashes exactly as in CYBEX-P.
/// </summary>
internal static class RequestBody
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads and parses the body; <paramref name="malformed"/> turns a parse error into the 400 message.</summary>
    public static async Task<BodyRead> ReadJsonAsync(HttpRequest request, long maxBytes, DuplicateKeys duplicates, Func<string, string> malformed, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } declared && declared > maxBytes)
        {
            return TooLarge(maxBytes);
        }

        byte[] bytes;
        try
        {
            bytes = await ReadLimitedAsync(request.Body, maxBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(maxBytes);
        }
        catch (BadHttpRequestException e)
        {
            return Bad(malformed($"the request body could not be read: {e.Message}"));
        }

        if (bytes.Length > maxBytes)
        {
            return TooLarge(maxBytes);
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Bad(malformed("the request body is not valid UTF-8 text"));
        }

        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            text = text[1..];
        }

        if (text.Trim().Length == 0)
        {
            return Bad(malformed("the request body is empty; send a JSON object"));
        }

        return PythonJson.TryParse(text, duplicates, out var value, out var error)
            ? new BodyRead(value, null, null)
            : Bad(malformed($"the request body is not valid JSON: {error}"));
    }

    private static BodyRead Bad(string message) => BodyRead.Refused(ApiResults.Message(StatusCodes.Status400BadRequest, message), message);

    private static BodyRead TooLarge(long maxBytes)
    {
        var message = $"the request body is larger than the limit of {maxBytes} bytes";
        return BodyRead.Refused(ApiResults.Message(StatusCodes.Status413PayloadTooLarge, message), message);
    }

    // Reads at most maxBytes + 1 bytes: one byte past the limit is enough to know the body is too large.
    private static async Task<byte[]> ReadLimitedAsync(Stream body, long maxBytes, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (buffer.Length <= maxBytes)
        {
            var want = (int)Math.Min(chunk.Length, maxBytes + 1 - buffer.Length);
            var read = await body.ReadAsync(chunk.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
