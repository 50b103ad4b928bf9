using System.CommandLine;

namespace Cybexp.Report.Cli;

/// <summary>The streams a command reads and writes; tests pass their own.</summary>
public sealed record CliIo(TextWriter Out, TextWriter Err, TextReader In);

/// <summary>Exit statuses shared by every command.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>Unreadable input, unusable store or other operational failure.</summary>
    public const int Failure = 1;
    /// <summary>The request itself was invalid (bad query, failed decryption, failed report).</summary>
    public const int Invalid = 2;
    /// <summary>The input was read but some of it is invalid (verify, ingest).</summary>
    public const int Problems = 3;
}

/// <summary>The <c>cybexp-report</c> command-line program: builds the command tree and runs it.</summary>
public static class CliApp
{
    /// <summary>Parses <paramref name="args"/>, runs the chosen command and returns its exit status.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, TextReader stdin)
    {
        var io = new CliIo(stdout, stderr, stdin);
        var root = new RootCommand("cybexp-report — the CYBEX-P report module: TAHOE archive, report queries, report workers.");
        // One line per command; each command lives in Commands/<Name>Command.cs.
        foreach (var command in BuildCommands(io))
        {
            root.Subcommands.Add(command);
        }

        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        return await root.Parse(args).InvokeAsync(config).ConfigureAwait(false);
    }

    private static IEnumerable<Command> BuildCommands(CliIo io)
    {
        return
        [
            Commands.VerifyCommand.Create(io),
            Commands.KeygenCommand.Create(io),
            Commands.EncryptCommand.Create(io),
            Commands.DecryptCommand.Create(io),
            Commands.QueryCommand.Create(io),
            Commands.WorkerCommand.Create(io),
            Commands.TokenCommand.Create(io),
            Commands.ServeCommand.Create(io),
            Commands.DemoCommand.Create(io),
            Commands.IngestCommand.Create(io),
            Commands.DocCommand.Create(io),
            Commands.UserCommand.Create(io),
            Commands.OrgCommand.Create(io),
            Commands.GenerateCommand.Create(io),
        ];
    }
}
