using Npgsql;

namespace Cybexp.Report.Storage.Tests;

/// <summary>Archives in an earlier PostgreSQL layout, for the migration tests.</summary>
internal static class PostgresRewind
{
    /// <summary>
    /// A new schema holding <paramref name="ds"/> as the current store writes it, then taken back to an earlier
    /// layout by <paramref name="rewind"/> (SQL run with the schema as search_path), for the store to migrate again.
    /// </summary>
    public static async Task<string> WrittenAndRewoundAsync(this PostgresSchemas schemas, Dataset ds, string rewind, CancellationToken ct)
    {
        var schema = schemas.NewName();
        await using (var written = await schemas.OpenAsync(TimeProvider.System, ct, schema))
        {
            await written.Archive.WriteAsync([.. ds.Everything], ct);
        }

        await using var conn = await PostgresSchemas.ConnectAsync(ct);
        await using var cmd = new NpgsqlCommand($"SET search_path TO \"{schema}\"; {rewind} RESET search_path;", conn);
        await cmd.ExecuteNonQueryAsync(ct);
        return schema;
    }
}
