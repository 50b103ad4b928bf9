using Cybexp.Report.Storage.Postgres;
using Npgsql;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// Unique schemas on the shared test server: every store a test opens lives in its own schema, so test classes run in
/// parallel against one database. The schemas are dropped when the owning test class is done.
/// </summary>
internal sealed class PostgresSchemas
{
    private readonly List<string> _created = [];

    /// <summary>A new schema name (not created yet; the store creates it).</summary>
    public string NewName()
    {
        var name = "t_" + Guid.NewGuid().ToString("N");
        lock (_created)
        {
            _created.Add(name);
        }

        return name;
    }

    /// <summary>Opens a store in <paramref name="schema"/> (a new schema when null).</summary>
    public async Task<PostgresStore> OpenAsync(TimeProvider time, CancellationToken ct, string? schema = null, string? applicationName = null)
    {
        var server = await PostgresServer.GetAsync();
        var cs = new NpgsqlConnectionStringBuilder(server.ConnectionString);
        if (applicationName is not null)
        {
            cs.ApplicationName = applicationName;
        }

        return await PostgresStore.OpenAsync(cs.ConnectionString, time, ct, schema ?? NewName());
    }

    /// <summary>A plain connection to the test database, for looking behind a store's back.</summary>
    public static async Task<NpgsqlConnection> ConnectAsync(CancellationToken ct)
    {
        var server = await PostgresServer.GetAsync();
        var conn = new NpgsqlConnection(server.ConnectionString);
        await conn.OpenAsync(ct);
        return conn;
    }

    /// <summary>Drops every schema made here.</summary>
    public async Task DropAllAsync()
    {
        string[] names;
        lock (_created)
        {
            names = [.. _created];
            _created.Clear();
        }

        if (names.Length == 0)
        {
            return;
        }

        await using var conn = await ConnectAsync(CancellationToken.None);
        foreach (var name in names)
        {
            await using var cmd = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{name}\" CASCADE;", conn);
            await cmd.ExecuteNonQueryAsync();
        }
    }
}
