using System.Text;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Npgsql;
using NpgsqlTypes;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// PostgreSQL stores documents packed (<see cref="PackedDocumentText"/>). Its SQL functions pack and unpack exactly as
/// the application does, an archive of text documents (version 10) is converted on open, and the stored bytes are
/// the packed form of each document's text.
/// </summary>
public sealed class PostgresPackedDocumentTests : IAsyncLifetime
{
    private const string H1 = "4497f32f1511a5f1aa5ef35a9bc2da5dbe9b2302190aae31b47f99af005eef08";
    private const string H2 = "97acb1c16c70bbead2ea64acc18a56779ccdfbe7c0282262279568c305aedd03";

    /// <summary>Back to the version-10 layout, data kept: documents as text, no functions, no record of 0011.</summary>
    private const string ToVersion10 =
        "ALTER TABLE instances ALTER COLUMN doc TYPE text USING cybexp_doc(doc); DROP FUNCTION cybexp_doc(bytea); DROP FUNCTION cybexp_pack_doc(text); " +
        "DELETE FROM schema_migrations WHERE version >= 11;";

    private readonly PostgresSchemas _schemas = new();

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(5)).Token;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => _schemas.DropAllAsync();

    [Fact]
    public async Task The_sql_functions_pack_and_unpack_as_the_application_does()
    {
        var ds = Datasets.Named("D3_medium");
        var texts = new List<string>
        {
            string.Empty,
            $"\"{H1}\"",
            $"\"\"{H1}\"{H2}\"",
            $"[\"{H1}\",\"{H1.ToUpperInvariant()}\",\"{H1[1..]}\",\"0{H1}\",\"{H2}\",\"{H1}\"]",
            $"[\"{H1}\",\"\u0001\"]",
            $"[\"{H1}\",\"\u0002\"]",
            $"{{\"name\":\"Zoë 東京 😀\",\"_hash\":\"{H2}\"}}",
            "[" + string.Join(",", Enumerable.Range(0, 300).Select(i => $"\"{Hex(i)}\"")) + $",\"{Hex(0)}\",\"{Hex(255)}\",\"{Hex(256)}\"]",
        };
        texts.AddRange(ds.Everything.Select(d => d.StoredText));
        texts.AddRange(RandomTexts(500));

        var schema = _schemas.NewName();
        await using (await _schemas.OpenAsync(TimeProvider.System, Ct, schema))
        {
        }

        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using var cmd = new NpgsqlCommand(
            $"SELECT \"{schema}\".cybexp_pack_doc(t), \"{schema}\".cybexp_doc($2[n]) FROM unnest($1::text[]) WITH ORDINALITY AS u (t, n) ORDER BY n;",
            conn);
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text, Value = texts.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea, Value = texts.Select(PackedDocumentText.Pack).ToArray() });
        var i = 0;
        await using (var r = await cmd.ExecuteReaderAsync(Ct))
        {
            while (await r.ReadAsync(Ct))
            {
                Assert.Equal(PackedDocumentText.Pack(texts[i]), r.GetFieldValue<byte[]>(0));
                Assert.Equal(texts[i], r.GetString(1));
                i++;
            }
        }

        Assert.Equal(texts.Count, i);
    }

    [Theory]
    [InlineData("07", "starts with byte 7")]
    [InlineData("010122", "ends inside a hash")]
    [InlineData("010200", "repeats a hash it does not hold")]
    public async Task The_sql_unpacking_refuses_damaged_bytes(string hex, string message)
    {
        var schema = _schemas.NewName();
        await using (await _schemas.OpenAsync(TimeProvider.System, Ct, schema))
        {
        }

        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using var cmd = new NpgsqlCommand($"SELECT \"{schema}\".cybexp_doc($1);", conn);
        cmd.Parameters.AddWithValue(Convert.FromHexString(hex));
        var e = await Assert.ThrowsAsync<PostgresException>(() => cmd.ExecuteScalarAsync(Ct));
        Assert.Contains(message, e.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_ConvertsAVersion10Archive_ToPackedDocuments_WithTheSameAnswers()
    {
        var ds = Datasets.Named("D3_medium");
        var schema = await _schemas.WrittenAndRewoundAsync(ds, ToVersion10, Ct);
        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        Assert.Equal(ds.Everything.ToDictionary(d => d.Hash, d => d.StoredText), await StoredAsync(conn, schema, "doc"));

        await using var migrated = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using var fresh = await _schemas.OpenAsync(TimeProvider.System, Ct);
        await fresh.Archive.WriteAsync([.. ds.Everything], Ct);
        await SameArchiveAnswers.AssertAsync(ds, fresh, migrated, Ct);

        // Every row holds the application's packed form of its text, which the SQL function reads back.
        var packed = await StoredAsync(conn, schema, "encode(doc, 'hex')");
        Assert.All(ds.Everything, d => Assert.Equal(Convert.ToHexStringLower(PackedDocumentText.Pack(d.StoredText)), packed[d.Hash]));
        Assert.Equal(ds.Everything.ToDictionary(d => d.Hash, d => d.StoredText), await StoredAsync(conn, schema, $"\"{schema}\".cybexp_doc(doc)"));

        // A second ingest finds every document stored and unchanged; an edit replaces the packed document.
        Assert.Equal(new WriteSummary(0, ds.Everything.Count(), 0), await migrated.Archive.WriteAsync([.. ds.Everything], Ct));
        var ev = ds.Events.First(e => e.Category != "malicious");
        Assert.True(ArchiveDocument.TryCreate(ev.Document.With("category", TahoeValue.String("malicious")), out var edited, out var error), error);
        Assert.Equal(new WriteSummary(0, 0, 1), await migrated.Archive.WriteAsync([edited!], Ct));
        Assert.Equal(new WriteSummary(0, 0, 1), await fresh.Archive.WriteAsync([edited!], Ct));
        Assert.Equal(edited!.StoredText, (await StoredAsync(conn, schema, $"\"{schema}\".cybexp_doc(doc)"))[ev.Hash]);
        Assert.Equal(edited.StoredText, Assert.Single(await migrated.Archive.GetDocumentsAsync([ev.Hash], Ct)).StoredText);
        await SameArchiveAnswers.AssertAsync(ds, fresh, migrated, Ct);
    }

    [Fact]
    public async Task The_migration_packs_the_documents_in_the_application_and_the_script_packs_any_it_was_not_given()
    {
        var ds = Datasets.Named("D3_medium");
        var schema = await _schemas.WrittenAndRewoundAsync(ds, ToVersion10, Ct);
        var script = MigrationScripts.Load(typeof(Cybexp.Report.Storage.Postgres.PostgresStore).Assembly, "Cybexp.Report.Storage.Postgres.Migrations.")
            .Single(s => s.Version == Cybexp.Report.Storage.Postgres.PackedDocumentsMigration.Version).Sql;

        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using (var path = new NpgsqlCommand($"SET search_path TO \"{schema}\";", conn))
        {
            await path.ExecuteNonQueryAsync(Ct);
        }

        // The application's part: every document, packed by PackedDocumentText.
        await using (var tx = await conn.BeginTransactionAsync(Ct))
        {
            Assert.Equal(ds.Everything.Count(), await Cybexp.Report.Storage.Postgres.PackedDocumentsMigration.PrepareAsync(conn, tx, Ct));
            var prepared = await PreparedAsync(conn, tx);
            Assert.Equal(ds.Everything.Count(), prepared.Count);
            Assert.All(ds.Everything, d => Assert.Equal(PackedDocumentText.Pack(d.StoredText), prepared[d.Hash]));
            await tx.RollbackAsync(Ct);
        }

        // The script with half the rows missing from the application's table (and one wrong there, which the script
        // takes as given): the rest are packed by cybexp_pack_doc, to the same bytes.
        var odd = ds.Everything.Where((_, i) => i % 2 == 1).Select(d => d.Hash.ToBytes()).ToArray();
        var marked = ds.Everything.First();
        await using (var tx = await conn.BeginTransactionAsync(Ct))
        {
            await Cybexp.Report.Storage.Postgres.PackedDocumentsMigration.PrepareAsync(conn, tx, Ct);
            await using (var drop = new NpgsqlCommand("DELETE FROM pg_temp.cybexp_packed_documents WHERE hash = ANY($1);", conn, tx))
            {
                drop.Parameters.AddWithValue(odd);
                await drop.ExecuteNonQueryAsync(Ct);
            }

            await using (var mark = new NpgsqlCommand("UPDATE pg_temp.cybexp_packed_documents SET doc = '\\x00'::bytea WHERE hash = $1;", conn, tx))
            {
                mark.Parameters.AddWithValue(marked.Hash.ToBytes());
                Assert.Equal(1, await mark.ExecuteNonQueryAsync(Ct));
            }

            await using (var run = new NpgsqlCommand(script, conn, tx))
            {
                await run.ExecuteNonQueryAsync(Ct);
            }

            var stored = await StoredAsync(conn, schema, "encode(doc, 'hex')", tx);
            Assert.Equal("00", stored[marked.Hash]);
            Assert.All(ds.Everything.Where(d => d.Hash != marked.Hash), d => Assert.Equal(Convert.ToHexStringLower(PackedDocumentText.Pack(d.StoredText)), stored[d.Hash]));
            await tx.RollbackAsync(Ct);
        }

        // The script without the application's table (as under Citus): every row packed by cybexp_pack_doc.
        await using (var tx = await conn.BeginTransactionAsync(Ct))
        {
            await using (var run = new NpgsqlCommand(script, conn, tx))
            {
                await run.ExecuteNonQueryAsync(Ct);
            }

            var stored = await StoredAsync(conn, schema, "encode(doc, 'hex')", tx);
            Assert.All(ds.Everything, d => Assert.Equal(Convert.ToHexStringLower(PackedDocumentText.Pack(d.StoredText)), stored[d.Hash]));
            await tx.RollbackAsync(Ct);
        }

        // On a store that already holds packed documents there is nothing to pack, and no table is made.
        await using var current = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await using (var tx = await conn.BeginTransactionAsync(Ct))
        {
            Assert.Equal(0, await Cybexp.Report.Storage.Postgres.PackedDocumentsMigration.PrepareAsync(conn, tx, Ct));
            await using var table = new NpgsqlCommand("SELECT to_regclass('pg_temp.cybexp_packed_documents') IS NULL;", conn, tx);
            Assert.Equal(true, await table.ExecuteScalarAsync(Ct));
            await tx.RollbackAsync(Ct);
        }
    }

    private static async Task<Dictionary<InstanceHash, byte[]>> PreparedAsync(NpgsqlConnection conn, NpgsqlTransaction tx)
    {
        await using var cmd = new NpgsqlCommand("SELECT hash, doc FROM pg_temp.cybexp_packed_documents;", conn, tx);
        var result = new Dictionary<InstanceHash, byte[]>();
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        while (await r.ReadAsync(Ct))
        {
            result.Add(InstanceHash.FromBytes(r.GetFieldValue<byte[]>(0)), r.GetFieldValue<byte[]>(1));
        }

        return result;
    }

    [Fact]
    public async Task An_event_is_stored_in_about_half_its_text()
    {
        var ds = Datasets.Named("D3_medium");
        var schema = _schemas.NewName();
        await using var store = await _schemas.OpenAsync(TimeProvider.System, Ct, schema);
        await store.Archive.WriteAsync([.. ds.Everything], Ct);

        await using var conn = await PostgresSchemas.ConnectAsync(Ct);
        await using var cmd = new NpgsqlCommand($"SELECT sum(length(doc)) FROM \"{schema}\".instances WHERE itype = 'event';", conn);
        var stored = (long)(await cmd.ExecuteScalarAsync(Ct))!;
        var text = ds.Events.Sum(e => (long)Encoding.UTF8.GetByteCount(e.StoredText));
        Assert.InRange(stored, text / 4, text * 6 / 10);
    }

    private static async Task<Dictionary<InstanceHash, string>> StoredAsync(NpgsqlConnection conn, string schema, string column, NpgsqlTransaction? tx = null)
    {
        await using var cmd = new NpgsqlCommand($"SELECT hash, {column} FROM \"{schema}\".instances;", conn, tx);
        var result = new Dictionary<InstanceHash, string>();
        await using var r = await cmd.ExecuteReaderAsync(Ct);
        while (await r.ReadAsync(Ct))
        {
            result.Add(InstanceHash.FromBytes(r.GetFieldValue<byte[]>(0)), r.GetString(1));
        }

        return result;
    }

    private static string Hex(int i) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)));

    private static IEnumerable<string> RandomTexts(int count)
    {
        var random = new Random(20261206);
        string[] pieces = ["\"", "a", "f", "0", "g", "A", "\\\"", ",", "é", "😀", H1, $"\"{H1}\"", $"\"{H2}\"", "[\"", "\"]"];
        for (var n = 0; n < count; n++)
        {
            var builder = new StringBuilder();
            var length = random.Next(0, 30);
            for (var i = 0; i < length; i++)
            {
                builder.Append(random.Next(4) == 0 ? $"\"{Hex(random.Next(3))}\"" : pieces[random.Next(pieces.Length)]);
            }

            yield return builder.ToString();
        }
    }
}
