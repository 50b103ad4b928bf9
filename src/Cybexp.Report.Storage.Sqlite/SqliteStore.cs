using System.Globalization;
using System.Reflection;
using Cybexp.Report.Core.Storage;
using Microsoft.Data.Sqlite;

namespace Cybexp.Report.Storage.Sqlite;

/// <summary>
/// The embedded store: archive, identity and queries in one SQLite file (WAL mode). Creates the file and applies the
/// numbered migration scripts on open. Several threads of one process may use it at once; several processes may too,
/// but idle workers in other processes only notice new queries at their poll interval.
/// </summary>
public sealed class SqliteStore : ICybexpStore
{
    /// <summary>Page size of a new database file (bytes).</summary>
    internal const int PageSize = 16384;

    private readonly string _connectionString;

    /// <summary>As <see cref="_connectionString"/>, for a connection that is not pooled (see <see cref="OpenConnectionAsync"/>).</summary>
    private readonly string _unpooledConnectionString;

    /// <summary>
    /// Puts SQLite into multi-thread mode before the process opens its first connection: connections get no mutex of
    /// their own, which SQLite's default (serialized) mode takes and releases around every call, each bound value
    /// included (about 5 % of an ingest's writer CPU). The store never uses one connection from two threads at once:
    /// every operation opens its own (pooled) connection and uses it in sequence. When SQLite was initialised before
    /// (something else in the process opened a connection first), the call fails harmlessly and the mode stays
    /// serialized.
    /// </summary>
    static SqliteStore()
    {
        SQLitePCL.Batteries_V2.Init();
        const int ConfigMultiThread = 2;
        _ = SQLitePCL.raw.sqlite3_config(ConfigMultiThread);
    }

    private SqliteStore(string path, TimeProvider time)
    {
        FilePath = path;
        Time = time;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        _unpooledConnectionString = new SqliteConnectionStringBuilder(_connectionString) { Pooling = false }.ToString();
        Archive = new SqliteArchive(this);
        Identity = new SqliteIdentity(this);
        Queries = new SqliteQueryStore(this);
    }

    /// <summary>The database file.</summary>
    public string FilePath { get; }

    internal TimeProvider Time { get; }

    /// <summary>The file's page size (<see cref="PageSize"/> for a file this version created).</summary>
    internal int FilePageSize { get; private set; } = PageSize;

    /// <inheritdoc />
    public IArchiveStore Archive { get; }

    /// <inheritdoc />
    public IIdentityStore Identity { get; }

    /// <inheritdoc />
    public IQueryStore Queries { get; }

    /// <inheritdoc />
    public string Description => $"sqlite:{FilePath}";

    /// <summary>Opens (creating and migrating when needed) the store at <paramref name="path"/>.</summary>
    /// <exception cref="StoreUnavailableException">The file cannot be created, opened or migrated.</exception>
    public static async Task<SqliteStore> OpenAsync(string path, TimeProvider time, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        try
        {
            var dir = Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(dir))
            {
                Directory.CreateDirectory(dir);
            }

            var store = new SqliteStore(full, time);
            await using (var conn = await store.OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
            {
                // A new file gets 16 KiB pages (SQLite's default is 4 KiB; an existing file keeps its size, WAL mode
                // cannot change it). The archive is written mostly in key order (documents by seq, reference rows in
                // sorted runs), so a larger page means a quarter of the WAL frames, system calls and B-tree pages per
                // byte: a 300k-event ingest took 10–13 % less CPU and a 7 % smaller file, and count and related
                // lookups were no slower (bench/results/ingest.md).
                await ExecAsync(conn, $"PRAGMA page_size={PageSize}; PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
                if (await MigrateAsync(conn, cancellationToken).ConfigureAwait(false) > 0)
                {
                    // What the migrations wrote goes into the file now and the WAL is emptied: a new file's schema
                    // alone is 65 frames (1 MB), a migration that rebuilds a table writes the whole table, and the
                    // writers' WAL limit (WalCheckpointer) counts only the frames they write themselves. Waits for
                    // readers up to the busy timeout, and when one still holds the WAL the frames stay for the next
                    // checkpoint: nothing is lost either way.
                    await ExecAsync(conn, "PRAGMA wal_checkpoint(TRUNCATE);", cancellationToken).ConfigureAwait(false);
                }

                await using var size = conn.CreateCommand();
                size.CommandText = "PRAGMA page_size;";
                store.FilePageSize = Convert.ToInt32(await size.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
            }

            return store;
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
        {
            throw new StoreUnavailableException($"cannot open the SQLite store at {full}: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await ExecAsync(conn, "SELECT 1;", cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (SqliteException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // A checkpoint still copying the last ingest's pages finishes first (stopping it would lose nothing).
        await ((SqliteArchive)Archive).Checkpointer.WhenIdleAsync(CancellationToken.None).ConfigureAwait(false);
        SqliteConnection.ClearAllPools();
    }

    /// <summary>
    /// Opens a connection, from the pool unless <paramref name="pooled"/> is false: a connection used for one purpose only
    /// (the WAL checkpointer) stays out of the pool, so that it never takes a pooled connection and its settings (the
    /// ingest writer's large page cache) from the purpose they were made for.
    /// </summary>
    internal async Task<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken, bool pooled = true)
    {
        var conn = new SqliteConnection(pooled ? _connectionString : _unpooledConnectionString);
        try
        {
            await conn.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecAsync(conn, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY; PRAGMA busy_timeout=10000;", cancellationToken).ConfigureAwait(false);
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal static async Task ExecAsync(SqliteConnection conn, string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Applies the scripts the file has not had yet; the number applied.</summary>
    private static async Task<int> MigrateAsync(SqliteConnection conn, CancellationToken cancellationToken)
    {
        var count = 0;
        // Scripts may call the application's document packing (0011 converts the stored documents with it).
        conn.CreateFunction("cybexp_pack_doc", (string text) => PackedDocumentText.Pack(text), isDeterministic: true);
        await ExecAsync(conn, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL);", cancellationToken).ConfigureAwait(false);
        var applied = new HashSet<int>();
        await using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "SELECT version FROM schema_migrations;";
            await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                applied.Add(reader.GetInt32(0));
            }
        }

        foreach (var (version, name, sql) in Scripts())
        {
            if (applied.Contains(version))
            {
                continue;
            }

            // BEGIN IMMEDIATE: two processes opening a new file at once migrate one after the other.
            await using var tx = (SqliteTransaction)await conn.BeginTransactionAsync(System.Data.IsolationLevel.Serializable, cancellationToken).ConfigureAwait(false);
            await using (var check = conn.CreateCommand())
            {
                check.Transaction = tx;
                check.CommandText = "SELECT count(*) FROM schema_migrations WHERE version = $v;";
                check.Parameters.AddWithValue("$v", version);
                if (Convert.ToInt64(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) > 0)
                {
                    continue;
                }
            }

            await ExecAsync(conn, sql, cancellationToken, tx).ConfigureAwait(false);
            await using (var mark = conn.CreateCommand())
            {
                mark.Transaction = tx;
                mark.CommandText = "INSERT INTO schema_migrations (version, name) VALUES ($v, $n);";
                mark.Parameters.AddWithValue("$v", version);
                mark.Parameters.AddWithValue("$n", name);
                await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            count++;
        }

        return count;
    }

    private static IEnumerable<(int Version, string Name, string Sql)> Scripts()
    {
        var asm = typeof(SqliteStore).Assembly;
        return MigrationScripts.Load(asm, "Cybexp.Report.Storage.Sqlite.Migrations.");
    }
}
