namespace Cybexp.Report.Core.Tests;

/// <summary>Locates the golden vector files copied next to the test assembly.</summary>
internal static class Vectors
{
    /// <summary>The full path of <paramref name="fileName"/> in the output's <c>vectors/</c> folder.</summary>
    public static string Path(string fileName) =>
        System.IO.Path.Combine(AppContext.BaseDirectory, "vectors", fileName);
}
