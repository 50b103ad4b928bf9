using System.Collections.Immutable;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Npgsql;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>Users, orgs and membership in PostgreSQL (maintained by archive writes of identity documents).</summary>
internal sealed class PostgresIdentity(PostgresStore store) : IIdentityStore
{
    public Task<UserRecord?> FindUserAsync(string hashOrEmail, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand { Connection = conn };
            if (InstanceHash.TryParse(hashOrEmail, out var h))
            {
                cmd.CommandText = "SELECT hash, email, name, sub_type FROM users WHERE hash = $1;";
                cmd.Parameters.AddWithValue(h.ToBytes());
            }
            else
            {
                cmd.CommandText = "SELECT hash, email, name, sub_type FROM users WHERE email = $1 ORDER BY hash LIMIT 1;";
                cmd.Parameters.AddWithValue(hashOrEmail);
            }

            var users = await ReadUsersAsync(cmd, cancellationToken).ConfigureAwait(false);
            return users.Count > 0 ? users[0] : null;
        },
        cancellationToken);

    public Task<IReadOnlyList<UserRecord>> ListUsersAsync(CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT hash, email, name, sub_type FROM users ORDER BY email, hash;", conn);
            return await ReadUsersAsync(cmd, cancellationToken).ConfigureAwait(false);
        },
        cancellationToken);

    public async Task<OrgRecord?> FindOrgAsync(string hashOrName, CancellationToken cancellationToken)
    {
        var orgs = await ReadOrgsAsync(hashOrName, cancellationToken).ConfigureAwait(false);
        return orgs.Count > 0 ? orgs[0] : null;
    }

    public Task<IReadOnlyList<OrgRecord>> ListOrgsAsync(CancellationToken cancellationToken) => ReadOrgsAsync(null, cancellationToken);

    public Task<Visibility> VisibilityOfAsync(InstanceHash user, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT org_hash FROM org_members WHERE user_hash = $1 AND role = 0;", conn);
            cmd.Parameters.AddWithValue(user.ToBytes());
            var orgs = new List<string>();
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                orgs.Add(InstanceHash.FromBytes(r.GetFieldValue<byte[]>(0)).Value);
            }

            return new Visibility(orgs);
        },
        cancellationToken);

    public Task<UserAccess> FindUserAccessAsync(InstanceHash user, CancellationToken cancellationToken) => store.RunAsync(
        async conn =>
        {
            // One statement, so the user, their orgs and the version all come from one snapshot.
            await using var cmd = new NpgsqlCommand(
                "SELECT v.version, u.email, u.name, u.sub_type, " +
                "ARRAY(SELECT m.org_hash FROM org_members m WHERE m.user_hash = $1 AND m.role = 0) " +
                "FROM identity_version v LEFT JOIN users u ON u.hash = $1 WHERE v.id = 1;",
                conn);
            cmd.Parameters.AddWithValue(user.ToBytes());
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException("the identity_version row is missing");
            }

            var version = r.GetInt64(0);
            if (r.IsDBNull(1))
            {
                return new UserAccess(null, new Visibility([]), version);
            }

            var record = new UserRecord(user, r.GetString(1), r.GetString(2), r.GetString(3));
            var orgs = r.GetFieldValue<byte[][]>(4).Select(h => InstanceHash.FromBytes(h).Value);
            return new UserAccess(record, new Visibility(orgs), version);
        },
        cancellationToken);

    public async Task<TahoeDict?> GetIdentityDocumentAsync(InstanceHash hash, CancellationToken cancellationToken)
    {
        var docs = await store.Archive.GetDocumentsAsync([hash], cancellationToken).ConfigureAwait(false);
        return docs.Count > 0 && (docs[0].IsUser || docs[0].IsOrg) ? docs[0].Document : null;
    }

    private Task<IReadOnlyList<OrgRecord>> ReadOrgsAsync(string? hashOrName, CancellationToken ct) => store.RunAsync<IReadOnlyList<OrgRecord>>(
        async conn =>
        {
            // Orgs and their members in one query; members come sorted by hash as in every store.
            const string select = "SELECT o.hash, o.orgname, o.name, m.user_hash, m.role FROM orgs o LEFT JOIN org_members m ON m.org_hash = o.hash";
            await using var cmd = new NpgsqlCommand { Connection = conn };
            if (hashOrName is null)
            {
                cmd.CommandText = select + " ORDER BY o.orgname, o.hash, m.user_hash;";
            }
            else if (InstanceHash.TryParse(hashOrName, out var h))
            {
                cmd.CommandText = select + " WHERE o.hash = $1 ORDER BY o.orgname, o.hash, m.user_hash;";
                cmd.Parameters.AddWithValue(h.ToBytes());
            }
            else
            {
                cmd.CommandText = select + " WHERE o.orgname = $1 ORDER BY o.orgname, o.hash, m.user_hash;";
                cmd.Parameters.AddWithValue(hashOrName);
            }

            var result = new List<OrgRecord>();
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            InstanceHash? current = null;
            string orgName = string.Empty, name = string.Empty;
            var users = ImmutableArray.CreateBuilder<InstanceHash>();
            var admins = ImmutableArray.CreateBuilder<InstanceHash>();
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var hash = InstanceHash.FromBytes(r.GetFieldValue<byte[]>(0));
                if (hash != current)
                {
                    if (current is { } done)
                    {
                        result.Add(new OrgRecord(done, orgName, name, users.ToImmutable(), admins.ToImmutable()));
                    }

                    current = hash;
                    orgName = r.GetString(1);
                    name = r.GetString(2);
                    users.Clear();
                    admins.Clear();
                }

                if (!r.IsDBNull(3))
                {
                    (r.GetInt16(4) == 0 ? users : admins).Add(InstanceHash.FromBytes(r.GetFieldValue<byte[]>(3)));
                }
            }

            if (current is { } last)
            {
                result.Add(new OrgRecord(last, orgName, name, users.ToImmutable(), admins.ToImmutable()));
            }

            return result;
        },
        ct);

    private static async Task<IReadOnlyList<UserRecord>> ReadUsersAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var result = new List<UserRecord>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            result.Add(new UserRecord(InstanceHash.FromBytes(r.GetFieldValue<byte[]>(0)), r.GetString(1), r.GetString(2), r.GetString(3)));
        }

        return result;
    }
}
