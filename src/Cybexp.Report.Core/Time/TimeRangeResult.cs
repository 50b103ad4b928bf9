using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Cybexp.Report.Core.Time;

/// <summary>Why a time range could not be resolved: the offending parameter and a message for the user.</summary>
/// <param name="Field">The parameter at fault: <c>from</c>, <c>to</c>, <c>last</c> or <c>tzname</c>.</param>
/// <param name="Message">A sentence naming the parameter, the value given and what is accepted.</param>
public sealed record TimeRangeError(string Field, string Message);

/// <summary>The outcome of <c>TimeRangeResolver.Resolve</c>: a <see cref="TimeRange"/> or a <see cref="TimeRangeError"/>.</summary>
public sealed class TimeRangeResult
{
    private readonly TimeRange value;

    private TimeRangeResult(TimeRange value, TimeRangeError? error)
    {
        this.value = value;
        Error = error;
    }

    /// <summary>True when a range was resolved.</summary>
    [MemberNotNullWhen(false, nameof(Error))]
    public bool Success => Error is null;

    /// <summary>The error, or null on success.</summary>
    public TimeRangeError? Error { get; }

    /// <summary>The range; throws <see cref="InvalidOperationException"/> when resolving failed.</summary>
    public TimeRange Value => Success
        ? value
        : throw new InvalidOperationException($"No time range: {Error.Message}");

    /// <summary>A successful result.</summary>
    public static TimeRangeResult ForValue(TimeRange range) => new(range, null);

    /// <summary>A failed result.</summary>
    public static TimeRangeResult ForError(TimeRangeError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return new(default, error);
    }

    /// <summary>Gets the range when there is one.</summary>
    public bool TryGetValue(out TimeRange range)
    {
        range = value;
        return Success;
    }

    /// <inheritdoc/>
    public override string ToString() => Success
        ? string.Create(CultureInfo.InvariantCulture, $"[{value.Start:R}, {value.End:R}]")
        : $"error({Error.Field}): {Error.Message}";
}
