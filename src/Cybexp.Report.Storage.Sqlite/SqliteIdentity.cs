using System.Collections.Immutable;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Sqlite;

/// <summary>Users, orgs and membership in SQLite (maintained by archive writes of identity documents).</summary>
internal sealed class SqliteIdentity(SqliteStore store) : IIdentityStore
{
    public async Task<UserRecord?> FindUserAsync(string hashOrEmail, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        if (InstanceHash.TryParse(hashOrEmail, out var h))
        {
            cmd.CommandText = "SELECT hash, email, name, sub_type FROM users WHERE hash = $h;";
            cmd.Parameters.AddWithValue("$h", h.ToBytes());
        }
        else
        {
            cmd.CommandText = "SELECT hash, email, name, sub_type FROM users WHERE email = $e ORDER BY hash LIMIT 1;";
            cmd.Parameters.AddWithValue("$e", hashOrEmail);
        }

        var users = await ReadUsersAsync(cmd, cancellationToken).ConfigureAwait(false);
        return users.Count > 0 ? users[0] : null;
    }

    public async Task<IReadOnlyList<UserRecord>> ListUsersAsync(CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT hash, email, name, sub_type FROM users ORDER BY email, hash;";
        return await ReadUsersAsync(cmd, cancellationToken).ConfigureAwait(false);
    }

    public async Task<OrgRecord?> FindOrgAsync(string hashOrName, CancellationToken cancellationToken)
    {
        var orgs = await ReadOrgsAsync(hashOrName, cancellationToken).ConfigureAwait(false);
        return orgs.Count > 0 ? orgs[0] : null;
    }

    public Task<IReadOnlyList<OrgRecord>> ListOrgsAsync(CancellationToken cancellationToken) => ReadOrgsAsync(null, cancellationToken);

    public async Task<Visibility> VisibilityOfAsync(InstanceHash user, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT org_hash FROM org_members WHERE user_hash = $u AND role = 0;";
        cmd.Parameters.AddWithValue("$u", user.ToBytes());
        var orgs = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            orgs.Add(InstanceHash.FromBytes((byte[])r.GetValue(0)).Value);
        }

        return new Visibility(orgs);
    }

    public async Task<UserAccess> FindUserAccessAsync(InstanceHash user, CancellationToken cancellationToken)
    {
        await using var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();

        // One statement, so the version, the user and their orgs come from one snapshot. Kind 0: version, 1: user, 2: org.
        cmd.CommandText =
            "SELECT 0, version, NULL, NULL, NULL FROM identity_version WHERE id = 1 " +
            "UNION ALL SELECT 1, NULL, email, name, sub_type FROM users WHERE hash = $u " +
            "UNION ALL SELECT 2, org_hash, NULL, NULL, NULL FROM org_members WHERE user_hash = $u AND role = 0;";
        cmd.Parameters.AddWithValue("$u", user.ToBytes());
        long? version = null;
        UserRecord? record = null;
        var orgs = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            switch (r.GetInt32(0))
            {
                case 0:
                    version = r.GetInt64(1);
                    break;
                case 1:
                    record = new UserRecord(user, r.GetString(2), r.GetString(3), r.GetString(4));
                    break;
                default:
                    orgs.Add(InstanceHash.FromBytes((byte[])r.GetValue(1)).Value);
                    break;
            }
        }

        return new UserAccess(record, new Visibility(record is null ? [] : orgs), version);
    }

    public async Task<TahoeDict?> GetIdentityDocumentAsync(InstanceHash hash, CancellationToken cancellationToken)
    {
        var docs = await store.Archive.GetDocumentsAsync([hash], cancellationToken).ConfigureAwait(false);
        return docs.Count > 0 && (docs[0].IsUser || docs[0].IsOrg) ? docs[0].Document : null;
    }

    private async Task<IReadOnlyList<OrgRecord>> ReadOrgsAsync(string? hashOrName, CancellationToken ct)
    {
        await using var conn = await store.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        if (hashOrName is null)
        {
            cmd.CommandText = "SELECT hash, orgname, name FROM orgs ORDER BY orgname, hash;";
        }
        else if (InstanceHash.TryParse(hashOrName, out var h))
        {
            cmd.CommandText = "SELECT hash, orgname, name FROM orgs WHERE hash = $h;";
            cmd.Parameters.AddWithValue("$h", h.ToBytes());
        }
        else
        {
            cmd.CommandText = "SELECT hash, orgname, name FROM orgs WHERE orgname = $n ORDER BY hash;";
            cmd.Parameters.AddWithValue("$n", hashOrName);
        }

        var orgs = new List<(InstanceHash Hash, string OrgName, string Name)>();
        await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
        {
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                orgs.Add((InstanceHash.FromBytes((byte[])r.GetValue(0)), r.GetString(1), r.GetString(2)));
            }
        }

        var result = new List<OrgRecord>(orgs.Count);
        await using var members = conn.CreateCommand();
        members.CommandText = "SELECT user_hash, role FROM org_members WHERE org_hash = $o ORDER BY user_hash;";
        var p = members.Parameters.Add("$o", SqliteType.Blob);
        foreach (var (hash, orgName, name) in orgs)
        {
            p.Value = hash.ToBytes();
            var users = ImmutableArray.CreateBuilder<InstanceHash>();
            var admins = ImmutableArray.CreateBuilder<InstanceHash>();
            await using var r = await members.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                (r.GetInt32(1) == 0 ? users : admins).Add(InstanceHash.FromBytes((byte[])r.GetValue(0)));
            }

            result.Add(new OrgRecord(hash, orgName, name, users.ToImmutable(), admins.ToImmutable()));
        }

        return result;
    }

    private static async Task<IReadOnlyList<UserRecord>> ReadUsersAsync(SqliteCommand cmd, CancellationToken ct)
    {
        var result = new List<UserRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(new UserRecord(InstanceHash.FromBytes((byte[])r.GetValue(0)), r.GetString(1), r.GetString(2), r.GetString(3)));
        }

        return result;
    }
}
