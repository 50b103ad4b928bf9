using System.Diagnostics.CodeAnalysis;

namespace Cybexp.Report.Core.Crypto;

/// <summary>The step of <see cref="QueryDecryptor.Decrypt(ReadOnlySpan{byte})"/> at which a blob was rejected.</summary>
public enum DecryptionStage
{
    /// <summary>The blob (or its text form) cannot hold an RSA key block, a nonce and a tag.</summary>
    Format,

    /// <summary>RSA-OAEP (SHA-1) decryption of the session key block failed, or gave no usable AES key.</summary>
    KeyUnwrap,

    /// <summary>AES-EAX verification failed: the nonce, tag or body was altered, or the key is not the sender's.</summary>
    AuthenticationTag,

    /// <summary>The authenticated plaintext is not valid UTF-8.</summary>
    Utf8,
}

/// <summary>Why a blob could not be decrypted: the stage and a sentence for the user.</summary>
/// <param name="Stage">The step that rejected the blob.</param>
/// <param name="Reason">What was wrong, in words.</param>
public sealed record DecryptionFailure(DecryptionStage Stage, string Reason)
{
    /// <summary>The stage as shown to users: <c>format</c>, <c>key unwrap</c>, <c>authentication tag</c> or <c>utf-8</c>.</summary>
    public string StageName => NameOf(Stage);

    /// <summary>The full message: <c>decryption failed at &lt;stage&gt;: &lt;reason&gt;</c>.</summary>
    public string Message => $"decryption failed at {StageName}: {Reason}";

    /// <summary>The user-facing name of <paramref name="stage"/>.</summary>
    public static string NameOf(DecryptionStage stage) => stage switch
    {
        DecryptionStage.Format => "format",
        DecryptionStage.KeyUnwrap => "key unwrap",
        DecryptionStage.AuthenticationTag => "authentication tag",
        DecryptionStage.Utf8 => "utf-8",
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "unknown decryption stage"),
    };

    /// <inheritdoc />
    public override string ToString() => Message;
}

/// <summary>The outcome of decrypting a query blob: the UTF-8 plaintext, or the <see cref="DecryptionFailure"/>.</summary>
public sealed class DecryptionResult
{
    private DecryptionResult(string? plaintext, DecryptionFailure? failure)
    {
        Plaintext = plaintext;
        Failure = failure;
    }

    /// <summary>True when the blob decrypted, verified and decoded.</summary>
    [MemberNotNullWhen(true, nameof(Plaintext))]
    [MemberNotNullWhen(false, nameof(Failure))]
    public bool IsSuccess => Failure is null;

    /// <summary>The decrypted text; null on failure.</summary>
    public string? Plaintext { get; }

    /// <summary>Why decryption failed; null on success.</summary>
    public DecryptionFailure? Failure { get; }

    /// <summary>A successful result.</summary>
    public static DecryptionResult Success(string plaintext)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        return new DecryptionResult(plaintext, null);
    }

    /// <summary>A failed result at <paramref name="stage"/>.</summary>
    public static DecryptionResult Failed(DecryptionStage stage, string reason) =>
        new(null, new DecryptionFailure(stage, reason));

    /// <inheritdoc />
    public override string ToString() =>
        IsSuccess ? $"Success({Plaintext.Length} chars)" : Failure.Message;
}
