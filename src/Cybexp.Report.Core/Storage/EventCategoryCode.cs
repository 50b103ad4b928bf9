namespace Cybexp.Report.Core.Storage;

/// <summary>
/// The number both stores keep for an event's category in their reference index (<c>event_refs.category</c>):
/// 0 unknown (any other text), 1 benign, 2 malicious. Stored in existing databases: never renumber.
/// </summary>
public static class EventCategoryCode
{
    /// <summary>The code of <paramref name="category"/>.</summary>
    public static short Of(string? category) => category switch
    {
        "benign" => 1,
        "malicious" => 2,
        _ => 0,
    };
}
