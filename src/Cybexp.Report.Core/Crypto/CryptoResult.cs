using System.Diagnostics.CodeAnalysis;

namespace Cybexp.Report.Core.Crypto;

/// <summary>
/// The outcome of reading user-supplied crypto input (a bytes literal, a ciphertext text, a PEM key):
/// either a value or a message saying what was wrong. Used instead of exceptions for input that
/// comes from outside the program.
/// </summary>
/// <typeparam name="T">The type of the successful value.</typeparam>
public sealed class CryptoResult<T>
    where T : notnull
{
    private readonly T? _value;
    private readonly string? _error;

    private CryptoResult(T? value, string? error)
    {
        _value = value;
        _error = error;
    }

    /// <summary>True when the input was read; <see cref="Value"/> is then available.</summary>
    [MemberNotNullWhen(true, nameof(_value))]
    [MemberNotNullWhen(false, nameof(_error))]
    public bool IsSuccess => _error is null;

    /// <summary>The value read. Throws <see cref="InvalidOperationException"/> on a failed result.</summary>
    public T Value => IsSuccess ? _value : throw new InvalidOperationException("No value: " + _error);

    /// <summary>What was wrong with the input. Throws <see cref="InvalidOperationException"/> on a successful result.</summary>
    public string Error => IsSuccess ? throw new InvalidOperationException("The result is a success.") : _error;

    /// <summary>A successful result holding <paramref name="value"/>.</summary>
    public static CryptoResult<T> Success(T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new CryptoResult<T>(value, null);
    }

    /// <summary>A failed result with the message <paramref name="error"/>.</summary>
    public static CryptoResult<T> Failure(string error)
    {
        ArgumentException.ThrowIfNullOrEmpty(error);
        return new CryptoResult<T>(default, error);
    }

    /// <summary>Gets the value when the result is a success, otherwise the error message.</summary>
    public bool TryGetValue([NotNullWhen(true)] out T? value, [NotNullWhen(false)] out string? error)
    {
        value = _value;
        error = _error;
        return IsSuccess;
    }

    /// <inheritdoc />
    public override string ToString() => IsSuccess ? $"Success({_value})" : $"Failure({_error})";
}
