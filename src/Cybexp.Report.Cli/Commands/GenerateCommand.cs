using System.CommandLine;
using System.Globalization;
using System.Text;
using Cybexp.Report.Service.Generation;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report generate --events N --seed S --out FILE [options]</c>: writes a realistic, deterministic TAHOE archive
/// as NDJSON (see <see cref="ArchiveGenerator"/>).
/// </summary>
public static class GenerateCommand
{
    private const string Description = """
        Write a realistic TAHOE archive as newline-delimited JSON: identity documents first (users
        analystN@orgK.example with password 'demo'; org1… with their members; analyst1 belongs to every org), then
        events (ssh_login, file_download, web_visit, email; about 5 attributes each) preceded by the attributes and
        objects they use for the first time, and sessions after their events. Attribute values are reused with a
        heavy tail: a few hub IPs and domains occur in many events, most values are rare. Categories are malicious
        (--malicious-share), benign or unknown; malicious events mark their suspicious children in _mal_ref, some
        benign events mark one child in _ben_ref. The same options give the same bytes. '-' as FILE writes to standard
        output. Prints a summary with the hub values to standard error.
        """;

    /// <summary>Builds the <c>generate</c> command; it writes to <paramref name="io"/> only (and to FILE).</summary>
    public static Command Create(CliIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var events = new Option<int>("--events") { Description = "Number of events.", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed; the same seed gives the same output.", Required = true };
        var output = new Option<string>("--out") { Description = "The file to write ('-': standard output).", Required = true };
        var orgs = new Option<int>("--orgs") { Description = "Organisations (default 2).", DefaultValueFactory = _ => 2 };
        var users = new Option<int>("--users") { Description = "Users, at least --orgs (default 4).", DefaultValueFactory = _ => 4 };
        var sessions = new Option<double>("--sessions-share") { Description = "Share of events in a session, 0–1 (default 0.1).", DefaultValueFactory = _ => 0.1 };
        var malicious = new Option<double>("--malicious-share") { Description = "Share of malicious events, 0–1 (default 0.05).", DefaultValueFactory = _ => 0.05 };
        var days = new Option<int>("--days") { Description = "Time span of the events in days (default 365).", DefaultValueFactory = _ => 365 };
        var start = new Option<long>("--start")
        {
            Description = $"Epoch seconds of the span's start (default {ArchiveGenerator.DefaultStart}, 2021-01-01T00:00:00Z).",
            DefaultValueFactory = _ => ArchiveGenerator.DefaultStart,
        };
        var command = new Command("generate", Description) { events, seed, output, orgs, users, sessions, malicious, days, start };
        command.SetAction((parseResult, cancellationToken) =>
        {
            var options = new GeneratorOptions(
                parseResult.GetValue(events),
                parseResult.GetValue(seed),
                parseResult.GetValue(orgs),
                parseResult.GetValue(users),
                parseResult.GetValue(sessions),
                parseResult.GetValue(malicious),
                parseResult.GetValue(days),
                parseResult.GetValue(start));
            return RunAsync(io, options, parseResult.GetValue(output)!, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, GeneratorOptions options, string path, CancellationToken cancellationToken)
    {
        if (options.Problem() is { } problem)
        {
            await io.Err.WriteLineAsync($"error: {problem}".AsMemory(), cancellationToken).ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        var generator = new ArchiveGenerator(options);
        GeneratorSummary summary;
        try
        {
            if (path == FileOrStdin.Stdin)
            {
                summary = await generator.WriteAsync(io.Out, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                var full = Path.GetFullPath(path);
                if (Path.GetDirectoryName(full) is { Length: > 0 } dir)
                {
                    Directory.CreateDirectory(dir);
                }

                await using var writer = new StreamWriter(full, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 1 << 16);
                summary = await generator.WriteAsync(writer, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            await io.Err.WriteLineAsync($"error: cannot write '{path}': {e.Message}".AsMemory(), cancellationToken).ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"generated {summary.Documents} documents: {summary.Events} events ({summary.MaliciousEvents} malicious), {summary.Sessions} sessions, {summary.Attributes} attributes, {summary.Objects} objects, {summary.Users} users, {summary.Orgs} orgs");
        foreach (var top in summary.TopValues)
        {
            sb.AppendLine();
            sb.Append(CultureInfo.InvariantCulture, $"top {top.SubType}: {top.Value} in {top.Events} events ({top.Hash})");
        }

        await io.Err.WriteLineAsync(sb.ToString().AsMemory(), cancellationToken).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}
