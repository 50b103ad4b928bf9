namespace Cybexp.Report.Core.Tests;

/// <summary>Locates the golden vector files copied next to the test assembly.</summary>
public static class Vectors
{
    /// <summary>The full path of <paramref name="fileName"/> in the test output's <c>vectors</c> folder.</summary>
    public static string Path(string fileName)
    {
        string path = System.IO.Path.Combine(AppContext.BaseDirectory, "vectors", fileName);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"golden vector file '{fileName}' is missing from the test output", path);
    }
}
