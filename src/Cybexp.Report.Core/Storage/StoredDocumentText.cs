using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Storage;

/// <summary>How stores serialise archive documents: compact JSON (<see cref="TahoeJsonWriter"/>) that reads back to the same values.</summary>
public static class StoredDocumentText
{
    /// <summary>The stored text of <paramref name="doc"/>.</summary>
    public static string Of(ArchiveDocument doc)
    {
        ArgumentNullException.ThrowIfNull(doc);
        return doc.StoredText;
    }

    /// <summary>Reads a stored text back.</summary>
    public static ArchiveDocument Parse(string text) =>
        ArchiveDocument.FromStored(MongoExtendedJson.Normalize(PythonJson.Parse(text, DuplicateKeys.LastWins)).AsDict);

    /// <summary>
    /// True when two stored texts hold the same document: key order and the order of the edge lists (sets in the
    /// original) do not matter.
    /// </summary>
    public static bool SameContent(string a, string b)
    {
        if (string.Equals(a, b, StringComparison.Ordinal))
        {
            return true;
        }

        var x = Normalise(PythonJson.Parse(a, DuplicateKeys.LastWins).AsDict);
        var y = Normalise(PythonJson.Parse(b, DuplicateKeys.LastWins).AsDict);
        return x.Equals(y);
    }

    private static readonly string[] SetKeys = ["_cref", "_ref", "_ben_ref", "_mal_ref", "_usr_ref", "_adm_ref", "_acl"];

    private static TahoeDict Normalise(TahoeDict d)
    {
        foreach (var key in SetKeys)
        {
            if (d[key] is TahoeList l)
            {
                d = d.With(key, TahoeValue.List(l.Items.DistinctBy(i => i.ToString(), StringComparer.Ordinal).OrderBy(i => i.ToString(), StringComparer.Ordinal)));
            }
        }

        return d;
    }
}
