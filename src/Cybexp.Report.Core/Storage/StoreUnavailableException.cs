namespace Cybexp.Report.Core.Storage;

/// <summary>The store cannot be reached, opened or written: the message says which store and why.</summary>
public sealed class StoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
