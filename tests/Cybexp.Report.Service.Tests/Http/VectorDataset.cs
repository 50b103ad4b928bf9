using System.Text.Json;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Service.Tests.Http;

/// <summary>The D1_tiny dataset of the golden report vectors: documents written by the original Python code.</summary>
internal static class VectorDataset
{
    private static readonly Lazy<(IReadOnlyList<ArchiveDocument> Documents, IReadOnlyDictionary<string, (string Email, string Hash)> Users)> Tiny = new(Load);

    /// <summary>Identity and TAHOE documents of D1_tiny.</summary>
    public static IReadOnlyList<ArchiveDocument> Documents => Tiny.Value.Documents;

    /// <summary>The dataset's users by name (alice, bob, carol, dave): e-mail and hash.</summary>
    public static IReadOnlyDictionary<string, (string Email, string Hash)> Users => Tiny.Value.Users;

    private static (IReadOnlyList<ArchiveDocument>, IReadOnlyDictionary<string, (string, string)>) Load()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "vectors", "reports.json")));
        var ds = json.RootElement.GetProperty("datasets").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "D1_tiny");
        var docs = ds.GetProperty("identity_docs").EnumerateArray()
            .Concat(ds.GetProperty("tahoe_docs").EnumerateArray())
            .Select(Doc)
            .ToList();
        var users = ds.GetProperty("users").EnumerateObject().ToDictionary(
            u => u.Name,
            u => (u.Value.GetProperty("email").GetString()!, u.Value.GetProperty("_hash").GetString()!),
            StringComparer.Ordinal);
        return (docs, users);
    }

    private static ArchiveDocument Doc(JsonElement e)
    {
        var dict = PythonJson.Parse(e.GetRawText()).AsDict;
        return ArchiveDocument.TryCreate(dict, out var doc, out var error) ? doc! : throw new InvalidDataException(error);
    }
}
