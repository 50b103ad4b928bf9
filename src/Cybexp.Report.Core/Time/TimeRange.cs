namespace Cybexp.Report.Core.Time;

/// <summary>
/// A report's time window over event timestamps, in Unix epoch seconds (UTC).
/// </summary>
/// <remarks>
/// Both bounds are inclusive. As in the original's query filter, a bound equal to zero is no
/// bound at all: <see cref="Start"/> == 0 means unbounded below and <see cref="End"/> == 0
/// unbounded above (so <c>to=0</c> does not mean "before 1970"). <see cref="Start"/> may exceed
/// <see cref="End"/>, which matches nothing. Both values are finite.
/// </remarks>
public readonly record struct TimeRange
{
    /// <summary>Creates a range; both bounds must be finite.</summary>
    /// <param name="start">Inclusive lower bound in epoch seconds; 0 for none.</param>
    /// <param name="end">Inclusive upper bound in epoch seconds; 0 for none.</param>
    public TimeRange(double start, double end)
    {
        if (!double.IsFinite(start))
        {
            throw new ArgumentOutOfRangeException(nameof(start), start, "A time range bound must be finite.");
        }

        if (!double.IsFinite(end))
        {
            throw new ArgumentOutOfRangeException(nameof(end), end, "A time range bound must be finite.");
        }

        Start = start;
        End = end;
    }

    /// <summary>Inclusive lower bound in epoch seconds; 0 means unbounded below.</summary>
    public double Start { get; }

    /// <summary>Inclusive upper bound in epoch seconds; 0 means unbounded above.</summary>
    public double End { get; }

    /// <summary>Whether <see cref="Start"/> restricts anything.</summary>
    public bool HasStart => Start != 0;

    /// <summary>Whether <see cref="End"/> restricts anything.</summary>
    public bool HasEnd => End != 0;

    /// <summary>Whether an event at <paramref name="epochSeconds"/> falls inside the range.</summary>
    public bool Contains(double epochSeconds) =>
        (!HasStart || epochSeconds >= Start) && (!HasEnd || epochSeconds <= End);
}
