using Cybexp.Report.Core.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// The application's part of migration 0011 (documents stored packed). The script converts <c>instances.doc</c> from
/// text to the packed bytes with <c>ALTER TABLE … USING</c>; packing a document in plpgsql (<c>cybexp_pack_doc</c>) costs
/// about 240 µs, 354 s for the 1,256,654 documents of a 1M-event store, during which the archive cannot be written.
/// So before the script runs, in the same transaction, the documents are read through a cursor, packed here by
/// <see cref="PackedDocumentText"/> and copied into the temporary table <c>cybexp_packed_documents</c> (hash → packed
/// bytes), which the script's <c>ALTER TABLE</c> reads. A row the table does not hold, or every row when there is no
/// table, is packed by <c>cybexp_pack_doc</c>, which packs exactly as the application does.
/// </summary>
internal static class PackedDocumentsMigration
{
    /// <summary>The version of the migration script this prepares.</summary>
    internal const int Version = 11;

    /// <summary>Documents read, packed and copied at a time (about 6 MB of text in a 1M-event store).</summary>
    private const int FetchRows = 5_000;

    /// <summary>
    /// While <c>instances.doc</c> holds text, creates <c>cybexp_packed_documents</c> (dropped at commit) and fills it with
    /// the packed form of every document; returns the documents packed. Does nothing and returns 0 when the column holds
    /// something else, or when the database has the Citus extension: the script's <c>ALTER TABLE</c> then runs on the
    /// shards, which cannot read a temporary table of the coordinator, and packs with <c>cybexp_pack_doc</c> alone.
    /// </summary>
    public static async Task<long> PrepareAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken cancellationToken)
    {
        await using (var applies = new NpgsqlCommand(
            "SELECT (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = 'instances'::regclass AND a.attname = 'doc' AND NOT a.attisdropped) = 'text' " +
            "AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus');", conn, tx))
        {
            if (await applies.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
            {
                return 0;
            }
        }

        await PostgresStore.ExecAsync(conn, tx, "CREATE TEMP TABLE cybexp_packed_documents (hash bytea NOT NULL, doc bytea NOT NULL) ON COMMIT DROP;", cancellationToken).ConfigureAwait(false);
        await PostgresStore.ExecAsync(conn, tx, "DECLARE cybexp_unpacked NO SCROLL CURSOR FOR SELECT hash, doc FROM instances;", cancellationToken).ConfigureAwait(false);
        var hashes = new List<byte[]>(FetchRows);
        var packed = new List<byte[]>(FetchRows);
        long total = 0;
        while (true)
        {
            hashes.Clear();
            packed.Clear();
            await using (var fetch = new NpgsqlCommand($"FETCH {FetchRows} FROM cybexp_unpacked;", conn, tx))
            await using (var r = await fetch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    hashes.Add(r.GetFieldValue<byte[]>(0));
                    packed.Add(PackedDocumentText.Pack(r.GetString(1)));
                }
            }

            if (hashes.Count == 0)
            {
                break;
            }

            await using (var copy = await conn.BeginBinaryImportAsync("COPY pg_temp.cybexp_packed_documents (hash, doc) FROM STDIN (FORMAT BINARY);", cancellationToken).ConfigureAwait(false))
            {
                for (var i = 0; i < hashes.Count; i++)
                {
                    await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(hashes[i], NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
                    await copy.WriteAsync(packed[i], NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
                }

                await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }

            total += hashes.Count;
        }

        // One sorted build of the index the script's lookups use, rather than an entry at a time while copying.
        await PostgresStore.ExecAsync(conn, tx, "CLOSE cybexp_unpacked; CREATE UNIQUE INDEX ON pg_temp.cybexp_packed_documents (hash); ANALYZE pg_temp.cybexp_packed_documents;", cancellationToken).ConfigureAwait(false);
        return total;
    }
}
