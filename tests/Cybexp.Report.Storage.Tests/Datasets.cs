using System.Text.Json;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Storage.Tests;

/// <summary>The datasets of the golden report vectors (documents written by the original Python code).</summary>
internal static class Datasets
{
    private static readonly Lazy<IReadOnlyList<Dataset>> All = new(Load);

    public static IReadOnlyList<Dataset> Each => All.Value;

    public static Dataset Named(string name) => All.Value.Single(d => d.Name == name);

    private static IReadOnlyList<Dataset> Load()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "vectors", "reports.json")));
        var result = new List<Dataset>();
        foreach (var ds in json.RootElement.GetProperty("datasets").EnumerateArray())
        {
            var docs = ds.GetProperty("tahoe_docs").EnumerateArray().Select(Doc).ToList();
            var identity = ds.GetProperty("identity_docs").EnumerateArray().Select(Doc).ToList();
            var users = ds.GetProperty("users").EnumerateObject()
                .ToDictionary(u => u.Name, u => InstanceHash.Parse(u.Value.GetProperty("_hash").GetString()!), StringComparer.Ordinal);
            result.Add(new Dataset(ds.GetProperty("name").GetString()!, docs, identity, users));
        }

        return result;
    }

    private static ArchiveDocument Doc(JsonElement e)
    {
        var dict = PythonJson.Parse(e.GetRawText()).AsDict;
        return ArchiveDocument.TryCreate(dict, out var doc, out var error) ? doc! : throw new InvalidDataException(error);
    }
}

internal sealed record Dataset(string Name, IReadOnlyList<ArchiveDocument> Tahoe, IReadOnlyList<ArchiveDocument> Identity, IReadOnlyDictionary<string, InstanceHash> Users)
{
    public IEnumerable<ArchiveDocument> Everything => Identity.Concat(Tahoe);

    public IEnumerable<ArchiveDocument> Events => Tahoe.Where(d => d.Itype == "event");

    /// <summary>Reference visibility: orgs whose _usr_ref holds the user.</summary>
    public Visibility VisibilityOf(InstanceHash user) =>
        new(Identity.Where(d => d.IsOrg && d.EdgeList("_usr_ref").Contains(user)).Select(d => d.Hash.Value));

    /// <summary>Reference count by brute force over the documents.</summary>
    public long ReferenceCount(InstanceHash instance, EventFilter f, Visibility v) => Events.Count(e =>
        v.OrgIds.Contains(e.OrgId!) &&
        e.Timestamp >= f.Lower && e.Timestamp <= f.Upper &&
        (f.Category is null || e.Category == f.Category) &&
        f.Context switch
        {
            EventContext.All => e.Ref.Contains(instance),
            EventContext.Benign => e.BenRef.Contains(instance),
            EventContext.Malicious => e.MalRef.Contains(instance),
            _ => e.Ref.Contains(instance) && !e.BenRef.Contains(instance) && !e.MalRef.Contains(instance),
        });
}
