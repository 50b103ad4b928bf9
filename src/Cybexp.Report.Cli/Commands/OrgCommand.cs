using System.CommandLine;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Cli.Commands;

/// <summary>
/// <c>cybexp-report org add|add-member|list</c>: CYBEX-P organisations, stored as the original stores them (an object
/// <c>cybexp_org</c> whose <c>_usr_ref</c> lists the members and <c>_adm_ref</c> the admins; admins are members too).
/// USER is a user's <c>_hash</c> or e-mail address, ORG an org's <c>_hash</c> or orgname.
/// </summary>
public static class OrgCommand
{
    /// <summary>Builds the <c>org</c> command and its subcommands; they write to <paramref name="io"/> only.</summary>
    public static Command Create(CliIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var command = new Command("org", "Manage CYBEX-P organisations (identity documents in the store).");
        command.Subcommands.Add(Add(io));
        command.Subcommands.Add(AddMember(io));
        command.Subcommands.Add(List(io));
        return command;
    }

    private static Command Add(CliIo io)
    {
        var store = StoreOption.Create();
        var name = new Option<string>("--name") { Description = "The orgname; it identifies the org (_hash = sha256(\"objectcybexp_org\" + orgname)).", Required = true };
        var fullName = new Option<string>("--full-name") { Description = "The org's full name.", DefaultValueFactory = _ => string.Empty };
        var admins = new Option<string[]>("--admin")
        {
            Description = "An admin (USER: _hash or e-mail); repeat or list several. Admins are members too.",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var command = new Command("add", "Create an org with its admins and print its _hash. Exit 1 when a user is unknown, the org exists, or the store is not usable.")
        {
            store, name, fullName, admins,
        };
        command.SetAction(async (parseResult, ct) =>
        {
            var orgname = parseResult.GetValue(name)!;
            await using var opened = await StoreOption.OpenAsync(parseResult.GetValue(store), io, announce: false, ct).ConfigureAwait(false);
            if (opened is null)
            {
                return ExitCodes.Failure;
            }

            if (await opened.Identity.FindOrgAsync(orgname, ct).ConfigureAwait(false) is { } existing)
            {
                await io.Err.WriteLineAsync($"error: org '{orgname}' exists already ({existing.Hash}); add members with 'org add-member'".AsMemory(), ct).ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            var adminUsers = new List<TahoeUser>();
            foreach (var given in parseResult.GetValue(admins) ?? [])
            {
                var user = await LoadUserAsync(opened, given, io, ct).ConfigureAwait(false);
                if (user is null)
                {
                    return ExitCodes.Failure;
                }

                adminUsers.Add(user);
            }

            TahoeOrg org;
            try
            {
                org = TahoeOrg.Create(orgname, adminUsers, adminUsers, parseResult.GetValue(fullName) ?? string.Empty);
            }
            catch (TahoeException e)
            {
                await io.Err.WriteLineAsync($"error: {e.Message}".AsMemory(), ct).ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            if (await IdentityWriter.WriteAsync(opened, [.. org.Descendants, org], org, io, ct).ConfigureAwait(false) is null)
            {
                return ExitCodes.Failure;
            }

            await io.Out.WriteLineAsync(org.Hash.Value.AsMemory(), ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command AddMember(CliIo io)
    {
        var store = StoreOption.Create();
        var orgArg = new Argument<string>("ORG") { Description = "The org: _hash or orgname." };
        var userArg = new Argument<string>("USER") { Description = "The user: _hash or e-mail." };
        var command = new Command(
            "add-member",
            "Make USER a member of ORG: the org document is rewritten with the same _hash and the user added to _usr_ref and _acl. Exit 1 when either is unknown or the store is not usable.")
        {
            store, orgArg, userArg,
        };
        command.SetAction(async (parseResult, ct) =>
        {
            await using var opened = await StoreOption.OpenAsync(parseResult.GetValue(store), io, announce: false, ct).ConfigureAwait(false);
            if (opened is null)
            {
                return ExitCodes.Failure;
            }

            var orgGiven = parseResult.GetValue(orgArg)!;
            var record = await opened.Identity.FindOrgAsync(orgGiven, ct).ConfigureAwait(false);
            if (record is null)
            {
                await io.Err.WriteLineAsync($"error: unknown org '{orgGiven}' (give an org _hash or orgname; see 'org list')".AsMemory(), ct).ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            var user = await LoadUserAsync(opened, parseResult.GetValue(userArg)!, io, ct).ConfigureAwait(false);
            if (user is null)
            {
                return ExitCodes.Failure;
            }

            if (record.Users.Contains(user.Hash))
            {
                await io.Out.WriteLineAsync($"{user.Email} is already a member of {record.OrgName}".AsMemory(), ct).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var members = new List<TahoeUser>();
            foreach (var hash in record.Users)
            {
                if (await LoadUserAsync(opened, hash.Value, io, ct).ConfigureAwait(false) is not { } member)
                {
                    return ExitCodes.Failure;
                }

                members.Add(member);
            }

            var admins = new List<TahoeUser>();
            foreach (var hash in record.Admins)
            {
                if (await LoadUserAsync(opened, hash.Value, io, ct).ConfigureAwait(false) is not { } admin)
                {
                    return ExitCodes.Failure;
                }

                admins.Add(admin);
            }

            members.Add(user);
            var org = TahoeOrg.Create(record.OrgName, members, admins, record.Name);
            if (org.Hash != record.Hash)
            {
                // The org's identity is its orgname; a stored org whose _hash disagrees was not written by this program.
                await io.Err.WriteLineAsync($"error: the stored org {record.Hash} does not hash as orgname '{record.OrgName}'; not changed".AsMemory(), ct).ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            if (await IdentityWriter.WriteAsync(opened, [.. org.Descendants, org], org, io, ct).ConfigureAwait(false) is null)
            {
                return ExitCodes.Failure;
            }

            await io.Out.WriteLineAsync($"added {user.Email} to {record.OrgName}".AsMemory(), ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(CliIo io)
    {
        var store = StoreOption.Create();
        var json = new Option<bool>("--json") { Description = "Print a JSON array of {\"_hash\",\"orgname\",\"name\",\"users\":[_hash…],\"admins\":[_hash…]}." };
        var command = new Command("list", "List orgs ordered by orgname: one line '_HASH  ORGNAME  NAME  members: E-MAIL, …  admins: E-MAIL, …' each.") { store, json };
        command.SetAction(async (parseResult, ct) =>
        {
            await using var opened = await StoreOption.OpenAsync(parseResult.GetValue(store), io, announce: false, ct).ConfigureAwait(false);
            if (opened is null)
            {
                return ExitCodes.Failure;
            }

            var orgs = await opened.Identity.ListOrgsAsync(ct).ConfigureAwait(false);
            if (parseResult.GetValue(json))
            {
                var text = IdentityWriter.Json(w =>
                {
                    w.WriteStartArray();
                    foreach (var o in orgs)
                    {
                        w.WriteStartObject();
                        w.WriteString("_hash", o.Hash.Value);
                        w.WriteString("orgname", o.OrgName);
                        w.WriteString("name", o.Name);
                        w.WriteStartArray("users");
                        foreach (var u in o.Users)
                        {
                            w.WriteStringValue(u.Value);
                        }

                        w.WriteEndArray();
                        w.WriteStartArray("admins");
                        foreach (var u in o.Admins)
                        {
                            w.WriteStringValue(u.Value);
                        }

                        w.WriteEndArray();
                        w.WriteEndObject();
                    }

                    w.WriteEndArray();
                });
                await io.Out.WriteLineAsync(text.AsMemory(), ct).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var emails = (await opened.Identity.ListUsersAsync(ct).ConfigureAwait(false)).ToDictionary(u => u.Hash, u => u.Email);
            string Names(IEnumerable<InstanceHash> hashes) =>
                string.Join(", ", hashes.Select(h => emails.TryGetValue(h, out var e) ? e : h.Value).Order(StringComparer.Ordinal));
            foreach (var o in orgs)
            {
                await io.Out.WriteLineAsync($"{o.Hash}  {o.OrgName}  {o.Name}  members: {Names(o.Users)}  admins: {Names(o.Admins)}".AsMemory(), ct).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The stored user <paramref name="given"/> (_hash or e-mail) as an instance, or null after a message.</summary>
    private static async Task<TahoeUser?> LoadUserAsync(ICybexpStore store, string given, CliIo io, CancellationToken ct)
    {
        var record = await store.Identity.FindUserAsync(given, ct).ConfigureAwait(false);
        var doc = record is null ? null : await store.Identity.GetIdentityDocumentAsync(record.Hash, ct).ConfigureAwait(false);
        if (doc is not null && TahoeInstance.FromDocument(doc) is { Instance: TahoeUser user })
        {
            return user;
        }

        await io.Err.WriteLineAsync(
            (record is null
                ? $"error: unknown user '{given}' (give a user _hash or e-mail; see 'user list')"
                : $"error: the stored document of user '{given}' ({record.Hash}) cannot be read as a user").AsMemory(),
            ct).ConfigureAwait(false);
        return null;
    }
}
