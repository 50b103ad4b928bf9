namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// The kind of a <see cref="TahoeException"/>; each matches the Python exception class the original raises for the
/// same input, so callers (and the golden vectors) can tell a wrong type from a wrong value.
/// </summary>
public enum TahoeErrorKind
{
    /// <summary>A value of the wrong type (Python <c>TypeError</c>).</summary>
    TypeError,

    /// <summary>A value of the right type but not allowed (Python <c>ValueError</c>).</summary>
    ValueError,

    /// <summary>A number outside what can be stored (Python <c>OverflowError</c>).</summary>
    OverflowError,
}

/// <summary>An instance could not be built or edited because an argument is invalid; names the field at fault.</summary>
public sealed class TahoeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TahoeException(TahoeErrorKind kind, string field, string message)
        : base(message)
    {
        Kind = kind;
        Field = field;
    }

    /// <summary>Creates the exception with an inner cause.</summary>
    public TahoeException(TahoeErrorKind kind, string field, string message, Exception inner)
        : base(message, inner)
    {
        Kind = kind;
        Field = field;
    }

    /// <summary>Which kind of error; see <see cref="TahoeErrorKind"/>.</summary>
    public TahoeErrorKind Kind { get; }

    /// <summary>The argument or document field at fault, e.g. <c>sub_type</c>.</summary>
    public string Field { get; }
}
