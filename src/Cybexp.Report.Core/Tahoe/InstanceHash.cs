using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// The identity of a TAHOE instance: SHA-256 of its unique text as 64 lowercase hex digits. Parsing accepts either
/// case (the original upper-cases query input) and always yields the lowercase form.
/// </summary>
public readonly record struct InstanceHash : IComparable<InstanceHash>
{
    private InstanceHash(string value) => Value = value;

    /// <summary>The 64 lowercase hex digits.</summary>
    public string Value { get; }

    /// <summary>SHA-256 of the UTF-8 bytes of <paramref name="unique"/>.</summary>
    /// <exception cref="ArgumentException">The text holds a lone surrogate, which UTF-8 cannot encode (Python raises too).</exception>
    public static InstanceHash Of(string unique)
    {
        ArgumentNullException.ThrowIfNull(unique);
        var max = StrictUtf8.GetMaxByteCount(unique.Length);
        byte[]? rented = null;
        var buffer = max <= 2048 ? stackalloc byte[2048] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            int length;
            try
            {
                length = StrictUtf8.GetBytes(unique, buffer);
            }
            catch (EncoderFallbackException e)
            {
                throw new ArgumentException("the text cannot be encoded as UTF-8 (it holds a lone surrogate)", nameof(unique), e);
            }

            return OfUtf8(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>SHA-256 of <paramref name="utf8"/>, the UTF-8 bytes of a unique text.</summary>
    public static InstanceHash OfUtf8(ReadOnlySpan<byte> utf8)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        Sha256Direct.Hash(utf8, digest);
        return new InstanceHash(Convert.ToHexStringLower(digest));
    }

    /// <summary>Parses 64 hex digits in either case; anything else is rejected.</summary>
    public static bool TryParse(string? text, out InstanceHash hash)
    {
        hash = default;
        if (text is not { Length: 64 })
        {
            return false;
        }

        // Stored hashes are lowercase already: keep the string as it is unless a digit needs lowering.
        var lower = true;
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }

            lower &= !char.IsAsciiLetterUpper(c);
        }

        hash = new InstanceHash(lower ? text : text.ToLowerInvariant());
        return true;
    }

    /// <summary>Parses 64 hex digits or throws <see cref="FormatException"/>.</summary>
    public static InstanceHash Parse(string text) =>
        TryParse(text, out var h) ? h : throw new FormatException($"'{text}' is not a 64-hex-digit hash");

    /// <summary>The hash from its 32 raw bytes (as stores keep it).</summary>
    public static InstanceHash FromBytes(ReadOnlySpan<byte> sha256) =>
        sha256.Length == 32 ? new InstanceHash(Convert.ToHexStringLower(sha256)) : throw new ArgumentException("a SHA-256 hash has 32 bytes", nameof(sha256));

    /// <summary>Bytes in a hash (SHA-256).</summary>
    public const int ByteLength = 32;

    /// <summary>The 32 raw bytes.</summary>
    public byte[] ToBytes() => Convert.FromHexString(Value);

    /// <summary>Writes the 32 raw bytes to the start of <paramref name="destination"/>, without an array.</summary>
    public void WriteBytes(Span<byte> destination)
    {
        // The 64 hex digits of a hash always decode to its 32 bytes.
        if (Convert.FromHexString(Value, destination[..ByteLength], out _, out var written) != OperationStatus.Done || written != ByteLength)
        {
            throw new InvalidOperationException($"'{Value}' is not a 32-byte hash");
        }
    }

    /// <inheritdoc />
    public int CompareTo(InstanceHash other) => string.CompareOrdinal(Value, other.Value);

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;

    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
