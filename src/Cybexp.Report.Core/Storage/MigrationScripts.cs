using System.Globalization;
using System.Reflection;

namespace Cybexp.Report.Core.Storage;

/// <summary>Numbered, forward-only schema scripts embedded in a store adapter (<c>NNNN_name.sql</c>).</summary>
public static class MigrationScripts
{
    /// <summary>The scripts under <paramref name="prefix"/> in <paramref name="assembly"/>, ordered by number.</summary>
    public static IReadOnlyList<(int Version, string Name, string Sql)> Load(Assembly assembly, string prefix)
    {
        var result = new List<(int, string, string)>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var name = resource[prefix.Length..^4];
            var underscore = name.IndexOf('_', StringComparison.Ordinal);
            var version = int.Parse(underscore > 0 ? name[..underscore] : name, NumberStyles.None, CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            result.Add((version, name, reader.ReadToEnd()));
        }

        result.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return result;
    }
}
