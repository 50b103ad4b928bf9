using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// SHA-256 for instance hashes. Where the process can load OpenSSL's libcrypto (every Linux that runs .NET has it:
/// .NET's own cryptography uses it), the digest comes from libcrypto's one-shot <c>SHA256()</c>: the same code
/// .NET ends in, without the EVP context set-up and tear-down .NET's API layers around each call (about 0.3 µs a
/// hash, a tenth of an event's whole canonical text and hash). Elsewhere, or if the export is missing, a reused
/// per-thread <see cref="IncrementalHash"/>.
/// </summary>
internal static unsafe class Sha256Direct
{
    private static readonly delegate* unmanaged<byte*, nuint, byte*, byte*> OneShot = Load();

    [ThreadStatic]
    private static IncrementalHash? t_fallback;

    /// <summary>True when digests come from libcrypto's <c>SHA256()</c> directly.</summary>
    public static bool IsDirect => OneShot != null;

    /// <summary>Writes the SHA-256 of <paramref name="data"/> into <paramref name="digest"/> (32 bytes).</summary>
    public static void Hash(ReadOnlySpan<byte> data, Span<byte> digest)
    {
        if (digest.Length < SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("a SHA-256 digest needs 32 bytes", nameof(digest));
        }

        if (OneShot != null)
        {
            fixed (byte* d = data)
            fixed (byte* md = digest)
            {
                // libcrypto reads no byte of an empty input; a non-null pointer keeps it off any null checks.
                byte empty = 0;
                OneShot(data.IsEmpty ? &empty : d, (nuint)data.Length, md);
            }

            return;
        }

        Managed(data, digest);
    }

    /// <summary>The digest through .NET's own API (the fallback; also the reference in tests).</summary>
    public static void Managed(ReadOnlySpan<byte> data, Span<byte> digest)
    {
        var sha256 = t_fallback ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha256.AppendData(data);
        sha256.GetHashAndReset(digest);
    }

    private static delegate* unmanaged<byte*, nuint, byte*, byte*> Load()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        foreach (var name in (string[])["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"])
        {
            if (NativeLibrary.TryLoad(name, out var library) && NativeLibrary.TryGetExport(library, "SHA256", out var export))
            {
                var fn = (delegate* unmanaged<byte*, nuint, byte*, byte*>)export;
                if (Agrees(fn))
                {
                    return fn;
                }
            }
        }

        return null;
    }

    /// <summary>A library that does not give the known digest of a known text is not used.</summary>
    private static bool Agrees(delegate* unmanaged<byte*, nuint, byte*, byte*> fn)
    {
        ReadOnlySpan<byte> text = "cybexp-report sha-256 self-check"u8;
        Span<byte> direct = stackalloc byte[SHA256.HashSizeInBytes];
        fixed (byte* d = text)
        fixed (byte* md = direct)
        {
            fn(d, (nuint)text.Length, md);
        }

        return direct.SequenceEqual(SHA256.HashData(text));
    }
}
