namespace Cybexp.Report.Core.Storage;

/// <summary>
/// The number both stores keep for the context an event saw a reference in (<c>event_refs.ctx</c>): 0 none, 1 benign
/// (the hash is in the event's <c>_ben_ref</c>), 2 malicious (in its <c>_mal_ref</c>, whatever <c>_ben_ref</c> says).
/// Stored in existing databases: never renumber.
/// </summary>
public static class EventRefContext
{
    /// <summary>In neither context list.</summary>
    public const byte None = 0;

    /// <summary>In <c>_ben_ref</c> and not in <c>_mal_ref</c>.</summary>
    public const byte Benign = 1;

    /// <summary>In <c>_mal_ref</c>.</summary>
    public const byte Malicious = 2;
}
