namespace Cybexp.Report.Core.Tests;

/// <summary>Locates the golden vector files copied beside the test assembly.</summary>
internal static class Vectors
{
    public static string Path(string fileName) => System.IO.Path.Combine(AppContext.BaseDirectory, "vectors", fileName);
}
