using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// SHA-256 for instance hashes. Where the process can load OpenSSL's libcrypto (every Linux that runs .NET has it:
/// .NET's own cryptography uses it), the digest comes from libcrypto's low-level <c>SHA256_Init</c>/<c>_Update</c>/
/// <c>_Final</c> on a context on the stack: the same SHA-256 code .NET ends in, without the EVP layer's per-call work
/// that .NET's API and even libcrypto's one-shot <c>SHA256()</c> (an implicit algorithm fetch in OpenSSL 3) pay on
/// every hash (≈ 0.3 µs, measured). Elsewhere, or if an export is missing, a reused per-thread
/// <see cref="IncrementalHash"/>.
/// </summary>
internal static unsafe class Sha256Direct
{
    // SHA256_CTX is 112 bytes in OpenSSL 1.1 and 3 (eight state words, two length words, a 64-byte block, two ints);
    // the buffer leaves room to spare.
    private const int ContextBytes = 256;

    private static readonly (nint Init, nint Update, nint Final) Functions = Load();

    [ThreadStatic]
    private static IncrementalHash? t_fallback;

    /// <summary>True when digests come from libcrypto's low-level SHA-256 functions directly.</summary>
    public static bool IsDirect => Functions.Init != 0;

    /// <summary>Writes the SHA-256 of <paramref name="data"/> into <paramref name="digest"/> (32 bytes).</summary>
    public static void Hash(ReadOnlySpan<byte> data, Span<byte> digest)
    {
        if (digest.Length < SHA256.HashSizeInBytes)
        {
            throw new ArgumentException("a SHA-256 digest needs 32 bytes", nameof(digest));
        }

        if (Functions.Init != 0)
        {
            Direct(Functions, data, digest);
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

    private static void Direct((nint Init, nint Update, nint Final) fn, ReadOnlySpan<byte> data, Span<byte> digest)
    {
        var context = stackalloc byte[ContextBytes];
        fixed (byte* d = data)
        fixed (byte* md = digest)
        {
            ((delegate* unmanaged<byte*, int>)fn.Init)(context);
            if (!data.IsEmpty)
            {
                ((delegate* unmanaged<byte*, byte*, nuint, int>)fn.Update)(context, d, (nuint)data.Length);
            }

            ((delegate* unmanaged<byte*, byte*, int>)fn.Final)(md, context);
        }
    }

    private static (nint Init, nint Update, nint Final) Load()
    {
        if (!OperatingSystem.IsLinux())
        {
            return default;
        }

        foreach (var name in (string[])["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"])
        {
            if (NativeLibrary.TryLoad(name, out var library) &&
                NativeLibrary.TryGetExport(library, "SHA256_Init", out var init) &&
                NativeLibrary.TryGetExport(library, "SHA256_Update", out var update) &&
                NativeLibrary.TryGetExport(library, "SHA256_Final", out var final) &&
                Agrees((init, update, final)))
            {
                return (init, update, final);
            }
        }

        return default;
    }

    /// <summary>A library that does not give the known digests of known texts is not used.</summary>
    private static bool Agrees((nint Init, nint Update, nint Final) fn)
    {
        Span<byte> direct = stackalloc byte[SHA256.HashSizeInBytes];
        foreach (var length in (ReadOnlySpan<int>)[0, 3, 64, 1000])
        {
            var text = new byte[length];
            for (var i = 0; i < length; i++)
            {
                text[i] = (byte)(i * 7);
            }

            Direct(fn, text, direct);
            if (!direct.SequenceEqual(SHA256.HashData(text)))
            {
                return false;
            }
        }

        return true;
    }
}
