using System.CommandLine;

namespace Cybexp.Report.Cli;

/// <summary>The <c>cybexp-report</c> command-line program: builds the command tree and runs it.</summary>
public static class CliApp
{
    /// <summary>Parses <paramref name="args"/>, runs the chosen command and returns its exit status.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin)
    {
        var root = new RootCommand("cybexp-report — the CYBEX-P report module: TAHOE archive, report queries, report workers.");
        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        return await root.Parse(args).InvokeAsync(config).ConfigureAwait(false);
    }
}
