namespace Cybexp.Report.Cli.Tests;

/// <summary>Runs the command-line program in-process with captured streams.</summary>
internal static class CliRunner
{
    public static async Task<(int Code, string Out, string Err)> RunWithStdinAsync(string stdin, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, stdout, stderr, new StringReader(stdin));
        return (code, stdout.ToString(), stderr.ToString());
    }

    public static Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunWithStdinAsync(string.Empty, args);

    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
