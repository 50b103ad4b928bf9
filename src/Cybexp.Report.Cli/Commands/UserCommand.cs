using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report user add|list</c>: CYBEX-P identity users, stored as the original stores them (an object
/// <c>cybexp_user</c>/<c>cybexp_superuser</c> with email_addr, password digest and name attributes).
/// </summary>
public static class UserCommand
{
    /// <summary>Builds the <c>user</c> command and its subcommands; they write to <paramref name="io"/> only.</summary>
    public static Command Create(CliIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var command = new Command("user", "Manage CYBEX-P users (identity documents in the store).");
        command.Subcommands.Add(Add(io));
        command.Subcommands.Add(List(io));
        return command;
    }

    private static Command Add(CliIo io)
    {
        var store = StoreOption.Create();
        var email = new Option<string>("--email") { Description = "E-mail address; it identifies the user (_hash = sha256(\"object\" + sub_type + email)).", Required = true };
        var name = new Option<string>("--name") { Description = "Full name.", Required = true };
        var password = new Option<string?>("--password") { Description = "Password (stored as its unsalted SHA-256, as the original)." };
        var passwordFile = new Option<string?>("--password-file") { Description = "File whose first line is the password ('-' reads standard input)." };
        var superuser = new Option<bool>("--superuser") { Description = "Create a cybexp_superuser instead of a cybexp_user." };
        var command = new Command(
            "add",
            "Add a user, or replace the password/name of the user with this e-mail and kind, and print the user's _hash. Exit 1 when the input or the store is not usable.")
        {
            store, email, name, password, passwordFile, superuser,
        };
        command.SetAction(async (parseResult, ct) =>
        {
            var secret = await ReadPasswordAsync(io, parseResult.GetValue(password), parseResult.GetValue(passwordFile), ct).ConfigureAwait(false);
            if (secret is null)
            {
                return ExitCodes.Failure;
            }

            TahoeUser user;
            try
            {
                user = TahoeUser.Create(parseResult.GetValue(email)!, secret, parseResult.GetValue(name)!, parseResult.GetValue(superuser));
            }
            catch (TahoeException e)
            {
                await io.Err.WriteLineAsync($"error: {e.Message}".AsMemory(), ct).ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            await using var opened = await StoreOption.OpenAsync(parseResult.GetValue(store), io, announce: false, ct).ConfigureAwait(false);
            if (opened is null)
            {
                return ExitCodes.Failure;
            }

            var written = await IdentityWriter.WriteAsync(opened, [.. user.Descendants, user], user, io, ct).ConfigureAwait(false);
            if (written is null)
            {
                return ExitCodes.Failure;
            }

            if (written.Updated > 0)
            {
                await io.Err.WriteLineAsync($"user {user.Email} existed: name and password replaced".AsMemory(), ct).ConfigureAwait(false);
            }
            else if (written.Inserted == 0)
            {
                await io.Err.WriteLineAsync($"user {user.Email} exists already, unchanged".AsMemory(), ct).ConfigureAwait(false);
            }

            await io.Out.WriteLineAsync(user.Hash.Value.AsMemory(), ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(CliIo io)
    {
        var store = StoreOption.Create();
        var json = new Option<bool>("--json") { Description = "Print a JSON array of {\"_hash\",\"email\",\"name\",\"sub_type\"}." };
        var command = new Command("list", "List users ordered by e-mail: one line '_HASH  EMAIL  SUB_TYPE  NAME' each.") { store, json };
        command.SetAction(async (parseResult, ct) =>
        {
            await using var opened = await StoreOption.OpenAsync(parseResult.GetValue(store), io, announce: false, ct).ConfigureAwait(false);
            if (opened is null)
            {
                return ExitCodes.Failure;
            }

            var users = await opened.Identity.ListUsersAsync(ct).ConfigureAwait(false);
            if (parseResult.GetValue(json))
            {
                var text = IdentityWriter.Json(w =>
                {
                    w.WriteStartArray();
                    foreach (var u in users)
                    {
                        w.WriteStartObject();
                        w.WriteString("_hash", u.Hash.Value);
                        w.WriteString("email", u.Email);
                        w.WriteString("name", u.Name);
                        w.WriteString("sub_type", u.SubType);
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                });
                await io.Out.WriteLineAsync(text.AsMemory(), ct).ConfigureAwait(false);
            }
            else
            {
                foreach (var u in users)
                {
                    await io.Out.WriteLineAsync($"{u.Hash}  {u.Email}  {u.SubType}  {u.Name}".AsMemory(), ct).ConfigureAwait(false);
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<string?> ReadPasswordAsync(CliIo io, string? password, string? file, CancellationToken ct)
    {
        if (password is not null && file is not null)
        {
            await io.Err.WriteLineAsync("error: give --password or --password-file, not both".AsMemory(), ct).ConfigureAwait(false);
            return null;
        }

        if (password is not null)
        {
            return password;
        }

        if (file is null)
        {
            await io.Err.WriteLineAsync("error: a password is required: give --password P or --password-file FILE".AsMemory(), ct).ConfigureAwait(false);
            return null;
        }

        var bytes = await FileOrStdin.ReadAllBytesAsync(file, "password file", io, ct).ConfigureAwait(false);
        if (!bytes.TryGetValue(out var value, out var error))
        {
            await io.Err.WriteLineAsync($"error: {error}".AsMemory(), ct).ConfigureAwait(false);
            return null;
        }

        // The first line, without its line break: `echo secret > file` must give "secret".
        var text = new UTF8Encoding(false).GetString(value);
        var end = text.IndexOfAny(['\r', '\n']);
        return end >= 0 ? text[..end] : text;
    }
}

/// <summary>Writes identity instances (with their descendants) and renders JSON for the identity commands.</summary>
internal static class IdentityWriter
{
    /// <summary>
    /// Writes <paramref name="instances"/> in one transaction; returns what happened to <paramref name="main"/>
    /// (1 inserted, 1 updated or neither), or null after printing why the store failed.
    /// </summary>
    public static async Task<WriteSummary?> WriteAsync(ICybexpStore store, IReadOnlyList<TahoeInstance> instances, TahoeInstance main, CliIo io, CancellationToken ct)
    {
        var docs = new List<ArchiveDocument>(instances.Count);
        foreach (var instance in instances)
        {
            if (!ArchiveDocument.TryCreate(instance.Document, out var doc, out var error))
            {
                // The instance types build valid documents; reaching this is a defect worth a clear report.
                throw new InvalidOperationException($"{instance}: {error}");
            }

            docs.Add(doc!);
        }

        try
        {
            // Descendants first, then the main document alone, so its outcome is reported on its own. An interruption
            // between the two leaves at most some stored children, never a user or org whose children are missing.
            await store.Archive.WriteAsync(docs[..^1], ct).ConfigureAwait(false);
            return await store.Archive.WriteAsync(docs[^1..], ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StoreUnavailableException or System.Data.Common.DbException)
        {
            await io.Err.WriteLineAsync($"error: the store failed: {e.Message}".AsMemory(), ct).ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>The compact JSON written by <paramref name="write"/>, non-ASCII text kept as is.</summary>
    public static string Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(writer);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
