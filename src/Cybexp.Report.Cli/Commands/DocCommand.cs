using System.CommandLine;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report doc HASH…</c>: prints stored documents as their text. The stores keep documents packed (their
/// hashes as bytes), so this is how to read one by hand.
/// </summary>
public static class DocCommand
{
    /// <summary>Builds the <c>doc</c> command; it writes to <paramref name="io"/> only.</summary>
    public static Command Create(CliIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var store = StoreOption.Create();
        var hashes = new Argument<string[]>("HASH") { Description = "A document's _hash: 64 hex digits.", Arity = ArgumentArity.OneOrMore };
        var command = new Command(
            "doc",
            "Print the stored documents with these _hash values, one line of JSON each, in the order given (the text the archive stores, byte for byte). Exit 1 when one is not stored or the store is not usable, 2 when a hash is malformed.")
        {
            store, hashes,
        };
        command.SetAction(async (parseResult, ct) =>
        {
            var wanted = new List<InstanceHash>();
            foreach (var text in parseResult.GetValue(hashes)!)
            {
                if (!InstanceHash.TryParse(text, out var hash))
                {
                    await io.Err.WriteLineAsync($"error: '{text}' is not a document hash; a _hash is 64 hex digits".AsMemory(), ct).ConfigureAwait(false);
                    return ExitCodes.Invalid;
                }

                wanted.Add(hash);
            }

            await using var opened = await StoreOption.OpenAsync(parseResult.GetValue(store), io, announce: false, ct).ConfigureAwait(false);
            if (opened is null)
            {
                return ExitCodes.Failure;
            }

            var found = (await opened.Archive.GetDocumentsAsync(wanted, ct).ConfigureAwait(false)).ToDictionary(d => d.Hash);
            var code = ExitCodes.Ok;
            foreach (var hash in wanted)
            {
                if (found.TryGetValue(hash, out var doc))
                {
                    await io.Out.WriteLineAsync(StoredDocumentText.Of(doc).AsMemory(), ct).ConfigureAwait(false);
                }
                else
                {
                    await io.Err.WriteLineAsync($"error: {hash} is not in the archive".AsMemory(), ct).ConfigureAwait(false);
                    code = ExitCodes.Failure;
                }
            }

            return code;
        });
        return command;
    }
}
