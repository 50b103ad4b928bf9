using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report verify [FILE…|-] [--json]</c>: reads stored TAHOE documents, recomputes every <c>_hash</c>,
/// checks the edge lists and per-itype fields, and reports each problem.
/// </summary>
public static class VerifyCommand
{
    private const string Description = """
        Check stored TAHOE documents: recompute every _hash from the content, check itype, sub_type, the edge lists
        (_cref, _ben_ref and _mal_ref within _ref; _ben_ref and _mal_ref disjoint) and event/attribute fields.
        Input: one JSON document, newline-delimited JSON, JSON arrays of documents, concatenated pretty-printed
        documents, or mongoexport Extended JSON ($oid _id dropped, $numberLong/$numberInt/$numberDouble unwrapped).
        Reads standard input when FILE is '-' or absent.
        Output: one line 'FILE:LINE: _HASH: reason' per problem ('-' for a missing _hash, FILE '-' for standard
        input), then 'checked N documents: N valid, N invalid'. With --json: one JSON object
        {"checked":N,"valid":N,"invalid":N,"problems":[{"line":L,"_hash":H,"reason":R,"file":F}]} (_hash null when
        absent). Errors that stop reading go to standard error as 'FILE:LINE: reason'.
        Exit status: 0 every document is valid; 3 some document is invalid; 1 some input could not be read.
        Rule: text that is not a valid document but whose end the reader can find (a broken line of
        newline-delimited JSON, a truncated last document, a duplicate key, a non-object, an over-long document)
        counts as one invalid document and reading goes on (3). Exit 1 when a file cannot be opened or decoded as
        UTF-8, or when a JSON array is broken (mismatched bracket, line break inside a string, never closed) so
        that the rest of that file cannot be read; the message names the file and line. 1 wins over 3.
        """;

    /// <summary>Builds the <c>verify</c> command; it writes to <paramref name="io"/> only.</summary>
    public static Command Create(CliIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var files = new Argument<string[]>("FILE")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "Files to check; '-' or none reads standard input.",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of lines." };
        var command = new Command("verify", Description) { files, json };
        command.SetAction((parseResult, cancellationToken) =>
            RunAsync(io, parseResult.GetValue(files) ?? [], parseResult.GetValue(json), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CliIo io, string[] files, bool json, CancellationToken cancellationToken)
    {
        var tally = new Tally(io, json);
        using var gc = ThroughputGc.Enter();
        foreach (var file in files.Length == 0 ? ["-"] : files)
        {
            await VerifySourceAsync(io, file, tally, cancellationToken).ConfigureAwait(false);
        }

        tally.WriteSummary();
        return tally.Unreadable ? ExitCodes.Failure : tally.Invalid > 0 ? ExitCodes.Problems : ExitCodes.Ok;
    }

    private static async Task VerifySourceAsync(CliIo io, string file, Tally tally, CancellationToken cancellationToken)
    {
        TextReader reader;
        var owned = file != "-";
        try
        {
            reader = owned ? OpenFile(file) : io.In;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            tally.Fail($"{file}: cannot open: {Describe(e)}");
            return;
        }

        long lastLine = 0;
        try
        {
            await foreach (var record in TahoeDocumentReader.ReadAsync(reader, cancellationToken).ConfigureAwait(false))
            {
                lastLine = record.Line;
                if (record.EndsSource)
                {
                    tally.Fail($"{file}:{record.Line}: {Reason(record)}");
                }
                else if (record.Document is { } doc)
                {
                    tally.Add(file, record.Line, doc, DocumentVerifier.Verify(doc));
                }
                else
                {
                    tally.Add(file, record.Line, null, [Reason(record)]);
                }
            }
        }
        catch (Exception e) when (e is IOException or DecoderFallbackException or UnauthorizedAccessException)
        {
            tally.Fail($"{file}:{lastLine}: cannot read after this line: {Describe(e)}");
        }
        finally
        {
            if (owned)
            {
                reader.Dispose();
            }
        }
    }

    private static StreamReader OpenFile(string path) => DocumentFiles.Open(path);

    private static string Describe(Exception e) => DocumentFiles.Describe(e);

    /// <summary>The reader's error without its leading <c>line N:</c> when N is the record's own line.</summary>
    private static string Reason(TahoeDocumentRecord record)
    {
        var error = record.Error ?? string.Empty;
        var prefix = $"line {record.Line}: ";
        return error.StartsWith(prefix, StringComparison.Ordinal) ? error[prefix.Length..] : error;
    }

    /// <summary>Counts documents and writes problems: as they come in text mode, all at the end with --json.</summary>
    private sealed class Tally(CliIo io, bool json)
    {
        private readonly List<(string File, long Line, string? Hash, string Reason)> _problems = [];

        public long Checked { get; private set; }

        public long Invalid { get; private set; }

        public bool Unreadable { get; private set; }

        public void Add(string file, long line, TahoeDict? doc, IReadOnlyList<string> problems)
        {
            Checked++;
            if (problems.Count == 0)
            {
                return;
            }

            Invalid++;
            var hash = (doc?["_hash"] as TahoeString)?.Value;
            foreach (var reason in problems)
            {
                if (json)
                {
                    _problems.Add((file, line, hash, reason));
                }
                else
                {
                    io.Out.WriteLine($"{file}:{line}: {hash ?? "-"}: {reason}");
                }
            }
        }

        public void Fail(string message)
        {
            Unreadable = true;
            io.Err.WriteLine(message);
        }

        public void WriteSummary()
        {
            if (!json)
            {
                io.Out.WriteLine($"checked {Checked} documents: {Checked - Invalid} valid, {Invalid} invalid");
                return;
            }

            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                writer.WriteStartObject();
                writer.WriteNumber("checked", Checked);
                writer.WriteNumber("valid", Checked - Invalid);
                writer.WriteNumber("invalid", Invalid);
                writer.WriteStartArray("problems");
                foreach (var (file, line, hash, reason) in _problems)
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("line", line);
                    if (hash is null)
                    {
                        writer.WriteNull("_hash");
                    }
                    else
                    {
                        writer.WriteString("_hash", hash);
                    }

                    writer.WriteString("reason", reason);
                    writer.WriteString("file", file);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            io.Out.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
        }
    }
}
