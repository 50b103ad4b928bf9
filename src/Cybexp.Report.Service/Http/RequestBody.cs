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
    /// <summary>
    /// A refused body up to this many times the limit is read and discarded before the 413 goes out, so a client
    /// that sends its whole body before reading the answer gets the 413 rather than a reset connection; the
    /// connection stays usable. Larger bodies are not read: the answer goes out and the server closes the connection.
    /// </summary>
    public const int DrainFactor = 16;

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Reads and parses the body; <paramref name="malformed"/> turns a parse error into the 400 message.</summary>
    public static async Task<BodyRead> ReadJsonAsync(HttpRequest request, long maxBytes, DuplicateKeys duplicates, Func<string, string> malformed, TimeProvider time, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } declared && declared > maxBytes)
        {
            if (declared <= maxBytes * DrainFactor)
            {
                await DrainAsync(request.Body, time, cancellationToken).ConfigureAwait(false);
            }

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
            await DrainAsync(request.Body, time, cancellationToken).ConfigureAwait(false);
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

    // Discards the rest of the body, up to the server's own limit (DrainFactor times the API's) and for a bounded
    // time; whatever stops the draining, the 413 is answered all the same.
    private static async Task DrainAsync(Stream body, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(DrainTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        var chunk = new byte[16 * 1024];
        try
        {
            while (await body.ReadAsync(chunk, linked.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is BadHttpRequestException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Too long or too slow: the server closes the connection after the answer.
        }
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
