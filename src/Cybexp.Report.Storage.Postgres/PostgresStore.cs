using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Cybexp.Report.Core.Storage;
using Npgsql;

namespace Cybexp.Report.Storage.Postgres;

/// <summary>
/// The cluster store: archive, identity and queries in one PostgreSQL database shared by several worker processes.
/// Applies the numbered migration scripts on open (once, however many processes open at the same moment). Claims use
/// <c>FOR UPDATE SKIP LOCKED</c>; idle workers in every process are woken by <c>LISTEN/NOTIFY</c>.
/// </summary>
public sealed partial class PostgresStore : ICybexpStore
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string? _password;
    private readonly PostgresListener _listener;

    private PostgresStore(NpgsqlConnectionStringBuilder builder, string? schema, TimeProvider time)
    {
        Time = time;
        Schema = schema;
        _password = string.IsNullOrEmpty(builder.Password) ? null : builder.Password;
        Where = string.Create(CultureInfo.InvariantCulture, $"Host={builder.Host};Port={builder.Port};Database={builder.Database ?? builder.Username}")
                + (schema is null ? string.Empty : ";Schema=" + schema);
        _dataSource = new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();

        // The listener holds one connection for as long as the store lives: outside the pool, so it never starves it.
        var listen = new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Pooling = false, KeepAlive = 15 };
        _listener = new PostgresListener(listen.ConnectionString, this);
        Archive = new PostgresArchive(this);
        Identity = new PostgresIdentity(this);
        Queries = new PostgresQueryStore(this);
    }

    /// <summary>The schema holding the tables, or null for the connection's default (its <c>search_path</c>).</summary>
    public string? Schema { get; }

    internal TimeProvider Time { get; }

    /// <summary>Host, port, database (and schema) of the store; never the password.</summary>
    internal string Where { get; }

    /// <summary>NOTIFY channel telling idle workers that a query may be claimable.</summary>
    internal string WorkChannel { get; private set; } = string.Empty;

    /// <summary>NOTIFY channel telling waiters that a query ended.</summary>
    internal string EndChannel { get; private set; } = string.Empty;

    /// <summary>Wakes waiters for work: set by this instance's own writes and by notifications from other processes.</summary>
    internal AsyncSignal Enqueued { get; } = new();

    /// <summary>Wakes waiters for a query's end.</summary>
    internal AsyncSignal Ended { get; } = new();

    internal PostgresListener Listener => _listener;

    /// <inheritdoc />
    public IArchiveStore Archive { get; }

    /// <inheritdoc />
    public IIdentityStore Identity { get; }

    /// <inheritdoc />
    public IQueryStore Queries { get; }

    /// <inheritdoc />
    public string Description => "postgres:" + Where;

    /// <summary>
    /// Connects to the database of <paramref name="connectionString"/> and applies the migration scripts not applied yet,
    /// under a transaction-scoped advisory lock, so processes starting together migrate once.
    /// </summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <param name="time">The clock for leases and query times.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <param name="schema">
    /// The schema holding every table (created when missing): a lowercase identifier; null keeps the connection's
    /// default <c>search_path</c> (normally <c>public</c>).
    /// </param>
    /// <exception cref="StoreUnavailableException">The server refuses the connection or cannot be reached.</exception>
    /// <exception cref="ArgumentException">The connection string or schema name is malformed.</exception>
    /// <exception cref="InvalidOperationException">No schema was given and the connection's search_path names none that exists.</exception>
    public static async Task<PostgresStore> OpenAsync(string connectionString, TimeProvider time, CancellationToken cancellationToken, string? schema = null)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(time);
        if (schema is not null && !SchemaName().IsMatch(schema))
        {
            throw new ArgumentException($"schema '{schema}' must be a lowercase identifier (a-z, 0-9, _; at most 63 characters, not starting with a digit)", nameof(schema));
        }

        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (schema is not null)
        {
            builder.SearchPath = "\"" + schema + "\"";
        }

        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = "cybexp-report";
        }

        // The same few statements run for every report: let the server parse and plan them once per connection
        // (an explicit Max Auto Prepare in the connection string wins, 0 turns it off).
        if (!Given(connectionString, "maxautoprepare"))
        {
            builder.MaxAutoPrepare = 64;
            builder.AutoPrepareMinUsages = 2;
        }

        // Pooled connections leave no session state behind (no SET, temporary tables, session advisory locks or
        // LISTEN: the listener has its own unpooled connection), so the reset statements Npgsql would otherwise send
        // with the next command of every pooled connection are pure cost.
        if (!Given(connectionString, "noresetonclose"))
        {
            builder.NoResetOnClose = true;
        }

        var store = new PostgresStore(builder, schema, time);
        try
        {
            var resolved = await store.RunAsync(conn => MigrateAsync(conn, schema, cancellationToken), cancellationToken).ConfigureAwait(false);
            store.WorkChannel = Channel("cybexp_work_", resolved);
            store.EndChannel = Channel("cybexp_end_", resolved);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await RunAsync(
                async conn =>
                {
                    await using var cmd = new NpgsqlCommand("SELECT 1;", conn);
                    return await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is 1;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync().ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a pooled connection; a server that refuses the connection or goes away surfaces
    /// as <see cref="StoreUnavailableException"/>.
    /// </summary>
    internal async Task<T> RunAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        try
        {
            await using var conn = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await work(conn).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable(e);
        }
    }

    internal Task<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        _dataSource.OpenConnectionAsync(cancellationToken).AsTask();

    /// <summary>The exception for an unreachable store: names host, port and database and the reason, never the password.</summary>
    internal StoreUnavailableException Unavailable(Exception e)
    {
        var reason = e.Message;
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            reason += " (" + inner.Message + ")";
        }

        if (_password is not null)
        {
            reason = reason.Replace(_password, "***", StringComparison.Ordinal);
        }

        return new StoreUnavailableException($"the PostgreSQL store at {Where} is unavailable: {reason}", e);
    }

    /// <summary>True for failures of the connection or the server, as opposed to errors in a statement.</summary>
    internal static bool IsUnavailable(Exception e) => e switch
    {
        // 08: connection exception; 57P: server shutting down or starting; 53300: too many connections;
        // 3D000: no such database; 28: authentication refused.
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal) ||
                               p.SqlState.StartsWith("28", StringComparison.Ordinal) || p.SqlState is "53300" or "3D000",
        NpgsqlException => true,
        SocketException or IOException or TimeoutException => true,
        _ => false,
    };

    private static async Task<string> MigrateAsync(NpgsqlConnection conn, string? schema, CancellationToken cancellationToken)
    {
        await using var tx = await conn.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        string resolved;
        if (schema is null)
        {
            await using var current = new NpgsqlCommand("SELECT current_schema();", conn, tx);
            resolved = await current.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string
                       ?? throw new InvalidOperationException("the connection's search_path names no existing schema; pass a schema");
        }
        else
        {
            resolved = schema;
        }

        // Held until commit: a second process opening now waits here, then finds every script applied.
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended($1, 0));", conn, tx))
        {
            lockCmd.Parameters.AddWithValue("cybexp-report migrate " + resolved);
            await lockCmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (schema is not null)
        {
            await ExecAsync(conn, tx, $"CREATE SCHEMA IF NOT EXISTS \"{schema}\";", cancellationToken).ConfigureAwait(false);
        }

        await ExecAsync(conn, tx, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());", cancellationToken).ConfigureAwait(false);
        var applied = new HashSet<int>();
        await using (var read = new NpgsqlCommand("SELECT version FROM schema_migrations;", conn, tx))
        await using (var r = await read.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                applied.Add(r.GetInt32(0));
            }
        }

        foreach (var (version, name, sql) in MigrationScripts.Load(typeof(PostgresStore).Assembly, "Cybexp.Report.Storage.Postgres.Migrations."))
        {
            if (applied.Contains(version))
            {
                continue;
            }

            if (version == PackedDocumentsMigration.Version)
            {
                await PackedDocumentsMigration.PrepareAsync(conn, tx, cancellationToken).ConfigureAwait(false);
            }

            await ExecAsync(conn, tx, sql, cancellationToken).ConfigureAwait(false);
            await using var mark = new NpgsqlCommand("INSERT INTO schema_migrations (version, name) VALUES ($1, $2);", conn, tx);
            mark.Parameters.AddWithValue(version);
            mark.Parameters.AddWithValue(name);
            await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return resolved;
    }

    /// <summary>True when the connection string sets <paramref name="keyword"/> (lowercase, without spaces).</summary>
    private static bool Given(string connectionString, string keyword)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        return given.Keys.Cast<string>().Any(k => string.Equals(k.Replace(" ", string.Empty, StringComparison.Ordinal), keyword, StringComparison.OrdinalIgnoreCase));
    }

    internal static async Task ExecAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A channel name per schema; identifiers stop at 63 bytes, so long schema names are hashed.</summary>
    private static string Channel(string prefix, string schema)
    {
        var name = prefix + schema;
        if (name.Length <= 63 && SchemaName().IsMatch(schema))
        {
            return name;
        }

        return prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(schema)))[..32];
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SchemaName();
}
