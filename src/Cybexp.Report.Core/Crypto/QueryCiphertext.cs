using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Cybexp.Report.Core.Crypto;

/// <summary>The form in which an encrypted query blob was supplied.</summary>
public enum CiphertextForm
{
    /// <summary>The bytes themselves.</summary>
    Raw,

    /// <summary>Standard base64 text (whitespace and line breaks ignored).</summary>
    Base64,

    /// <summary>Python's <c>repr(bytes)</c> text, as stored in a TDQL document's <c>qdata</c>.</summary>
    BytesLiteral,
}

/// <summary>
/// An encrypted query blob, <c>enc_session_key || nonce || tag || ciphertext</c>, however it was supplied:
/// raw bytes, base64 text or a Python bytes literal (<c>b'...'</c>).
/// </summary>
public sealed class QueryCiphertext
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] _bytes;

    private QueryCiphertext(byte[] bytes, CiphertextForm form)
    {
        _bytes = bytes;
        Form = form;
    }

    /// <summary>The blob's bytes.</summary>
    public ReadOnlyMemory<byte> Bytes => _bytes;

    /// <summary>The blob's length in bytes.</summary>
    public int Length => _bytes.Length;

    /// <summary>The form the blob was read from.</summary>
    public CiphertextForm Form { get; }

    /// <summary>A blob holding a copy of <paramref name="bytes"/>.</summary>
    public static QueryCiphertext FromBytes(ReadOnlySpan<byte> bytes) => new(bytes.ToArray(), CiphertextForm.Raw);

    /// <summary>
    /// Reads a blob from text: a Python bytes literal when the text (ignoring surrounding whitespace) starts with
    /// <c>b'</c> or <c>b"</c>, otherwise base64. The error says which form was tried and what was wrong.
    /// </summary>
    public static CryptoResult<QueryCiphertext> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            return CryptoResult<QueryCiphertext>.Failure(
                "the ciphertext text is empty; expected base64 text or a Python bytes literal (b'...')");
        }

        if (trimmed.StartsWith("b'", StringComparison.Ordinal) || trimmed.StartsWith("b\"", StringComparison.Ordinal))
        {
            var literal = PythonBytesLiteral.Parse(trimmed);
            return literal.TryGetValue(out byte[]? bytes, out string? error)
                ? CryptoResult<QueryCiphertext>.Success(new QueryCiphertext(bytes, CiphertextForm.BytesLiteral))
                : CryptoResult<QueryCiphertext>.Failure("not a valid Python bytes literal: " + error
                    + (trimmed.Length != text.Length ? " (positions count from the first non-blank character)" : ""));
        }

        if (Base64.IsValid(trimmed, out int decodedLength))
        {
            var bytes = new byte[decodedLength];
            if (Convert.TryFromBase64String(trimmed, bytes, out int written) && written == decodedLength)
            {
                return CryptoResult<QueryCiphertext>.Success(new QueryCiphertext(bytes, CiphertextForm.Base64));
            }
        }

        return CryptoResult<QueryCiphertext>.Failure(
            "neither base64 nor a Python bytes literal (b'...'): " + DescribeBase64Problem(trimmed));
    }

    /// <summary>
    /// Reads a blob from a file's or a stream's bytes. Input that is valid UTF-8 text without control characters
    /// (other than tab, CR and LF; a leading UTF-8 byte-order mark is ignored) is read as text with
    /// <see cref="Parse"/>; anything else is taken as the raw blob. A real raw blob is never such text: its
    /// first 256 bytes are indistinguishable from random.
    /// </summary>
    public static CryptoResult<QueryCiphertext> FromInput(ReadOnlySpan<byte> input)
    {
        ReadOnlySpan<byte> body = input.StartsWith("\uFEFF"u8) ? input[3..] : input;
        if (body.Length > 0 && LooksLikeText(body))
        {
            return Parse(StrictUtf8.GetString(body));
        }

        return CryptoResult<QueryCiphertext>.Success(FromBytes(input));
    }

    /// <summary>The blob as standard base64 text.</summary>
    public string ToBase64() => Convert.ToBase64String(_bytes);

    /// <summary>The blob as Python's <c>repr(bytes)</c>, the form the original stores in TDQL <c>qdata</c>.</summary>
    public string ToBytesLiteral() => PythonBytesLiteral.Format(_bytes);

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"QueryCiphertext({_bytes.Length} bytes, from {Form})");

    private static bool LooksLikeText(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            if ((b < 0x20 && b is not (byte)'\t' and not (byte)'\n' and not (byte)'\r') || b == 0x7f)
            {
                return false;
            }
        }

        return System.Text.Unicode.Utf8.IsValid(bytes);
    }

    private static string DescribeBase64Problem(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            bool allowed = char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '=' or ' ' or '\t' or '\r' or '\n';
            if (!allowed)
            {
                string shown = c is >= ' ' and < '\x7f' ? "'" + c + "'" : $"U+{(int)c:X4}";
                return string.Create(CultureInfo.InvariantCulture,
                    $"character {shown} at position {i} is not in the base64 alphabet");
            }
        }

        return "the base64 text has a wrong length or misplaced '=' padding";
    }
}
