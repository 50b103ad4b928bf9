using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// The PostgreSQL server the tests share, started once per test run. <c>CYBEXP_TEST_POSTGRES</c> names an existing
/// server (an Npgsql connection string). Otherwise a throw-away cluster is made with the binaries found in
/// <c>CYBEXP_TEST_PG_BIN</c>, <c>/usr/lib/postgresql/*/bin</c> (newest first), <c>/usr/pgsql-*/bin</c> or on PATH:
/// <c>initdb</c> into a temporary folder (as the unprivileged <c>postgres</c> OS user when the tests run as root, which
/// PostgreSQL refuses), a random free port on 127.0.0.1 only, the unix socket inside that folder, password
/// authentication, and <c>pg_ctl stop</c> plus deletion of the folder when the test process exits. Without PostgreSQL
/// binaries every test using it fails with the reason: on CI (<c>CI=true</c>) that is the required outcome, and
/// locally the inherited contract tests (plain <c>[Fact]</c>s) have no way to skip.
/// </summary>
internal sealed class PostgresServer
{
    private const string DatabaseName = "cybexp_test";
    private static readonly Lazy<Task<PostgresServer>> Shared = new(StartAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    private PostgresServer(string connectionString) => ConnectionString = connectionString;

    /// <summary>A connection string to an empty-enough database where tests create their own schemas.</summary>
    public string ConnectionString { get; }

    /// <summary>The shared server, started on first use.</summary>
    public static Task<PostgresServer> GetAsync() => Shared.Value;

    private static async Task<PostgresServer> StartAsync()
    {
        var given = Environment.GetEnvironmentVariable("CYBEXP_TEST_POSTGRES");
        if (!string.IsNullOrWhiteSpace(given))
        {
            return new PostgresServer(given);
        }

        var bin = FindBinaries() ?? throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found in CYBEXP_TEST_PG_BIN, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin or on PATH. " +
            "Install the server (Debian: apt-get install postgresql) or set CYBEXP_TEST_POSTGRES to a connection string." +
            (IsCi ? " CI=true: the PostgreSQL tests are required here." : string.Empty));
        var cluster = await ThrowAwayCluster.StartAsync(bin).ConfigureAwait(false);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.Stop();
        return new PostgresServer(cluster.ConnectionString);
    }

    private static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    private static string? FindBinaries()
    {
        static int Version(string dir) =>
            double.TryParse(Path.GetFileName(Path.GetDirectoryName(dir)), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? (int)(v * 10) : 0;

        // CYBEXP_TEST_PG_BIN names the folder holding initdb and pg_ctl, and then no other place is searched.
        var given = Environment.GetEnvironmentVariable("CYBEXP_TEST_PG_BIN");
        if (!string.IsNullOrEmpty(given))
        {
            return File.Exists(Path.Combine(given, "initdb")) && File.Exists(Path.Combine(given, "pg_ctl")) ? given : null;
        }

        var candidates = new List<string>();
        foreach (var root in new[] { "/usr/lib/postgresql", "/usr/local/lib/postgresql" })
        {
            if (Directory.Exists(root))
            {
                candidates.AddRange(Directory.GetDirectories(root).Select(d => Path.Combine(d, "bin")).OrderByDescending(Version));
            }
        }

        if (Directory.Exists("/usr"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr", "pgsql-*").Select(d => Path.Combine(d, "bin")).OrderByDescending(d => d, StringComparer.Ordinal));
        }

        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    /// <summary>A cluster in a temporary folder, owned and run by an unprivileged user.</summary>
    private sealed class ThrowAwayCluster
    {
        private readonly string _bin;
        private readonly string _dir;
        private readonly string? _runAs;
        private int _stopped;

        private ThrowAwayCluster(string bin, string dir, string? runAs, string connectionString)
        {
            _bin = bin;
            _dir = dir;
            _runAs = runAs;
            ConnectionString = connectionString;
        }

        public string ConnectionString { get; }

        private string DataDir => Path.Combine(_dir, "data");

        public static async Task<ThrowAwayCluster> StartAsync(string bin)
        {
            // PostgreSQL refuses to run as root: then the cluster belongs to the postgres account (override with
            // CYBEXP_TEST_PG_USER).
            var runAs = Environment.IsPrivilegedProcess ? Environment.GetEnvironmentVariable("CYBEXP_TEST_PG_USER") ?? "postgres" : null;
            var dir = Directory.CreateTempSubdirectory("cybexp-pg-").FullName;
            var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            Directory.CreateDirectory(Path.Combine(dir, "sock"));
            await File.WriteAllTextAsync(Path.Combine(dir, "pwfile"), password + "\n").ConfigureAwait(false);
            if (runAs is not null)
            {
                await RunAsync("chown", ["-R", runAs + ":", dir], null).ConfigureAwait(false);
            }

            var pending = new ThrowAwayCluster(bin, dir, runAs, string.Empty);
            try
            {
                await pending.PgAsync("initdb", ["-D", pending.DataDir, "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + Path.Combine(dir, "pwfile"), "-E", "UTF8", "--locale=C", "--no-sync"]).ConfigureAwait(false);

                // A free port can be taken between probing and binding: try a few.
                for (var attempt = 1; ; attempt++)
                {
                    var port = FreePort();
                    var options = string.Join(' ',
                        "-c listen_addresses=127.0.0.1",
                        "-p " + port.ToString(CultureInfo.InvariantCulture),
                        "-k " + Path.Combine(dir, "sock"),
                        "-c max_connections=300",
                        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off");
                    try
                    {
                        await pending.PgAsync("pg_ctl", ["-D", pending.DataDir, "-l", Path.Combine(dir, "server.log"), "-w", "-t", "60", "-o", options, "start"]).ConfigureAwait(false);
                    }
                    catch (InvalidOperationException) when (attempt < 3)
                    {
                        continue;
                    }

                    var admin = new NpgsqlConnectionStringBuilder
                    {
                        Host = "127.0.0.1",
                        Port = port,
                        Username = "postgres",
                        Password = password,
                        Database = "postgres",
                        Timeout = 15,
                    };
                    await using (var conn = new NpgsqlConnection(admin.ConnectionString))
                    {
                        await conn.OpenAsync().ConfigureAwait(false);
                        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {DatabaseName};", conn);
                        await cmd.ExecuteNonQueryAsync().ConfigureAwait(false);
                    }

                    NpgsqlConnection.ClearAllPools();
                    admin.Database = DatabaseName;
                    var cluster = new ThrowAwayCluster(bin, dir, runAs, admin.ConnectionString);
                    cluster.StartWatchdog();
                    return cluster;
                }
            }
            catch (Exception e)
            {
                var log = Path.Combine(dir, "server.log");
                var tail = File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(20)) : "(no server log)";
                pending.Stop();
                throw new InvalidOperationException($"could not start a throw-away PostgreSQL cluster with {bin}: {e.Message}\nserver log:\n{tail}", e);
            }
        }

        /// <summary>Stops the server (immediately: the data is thrown away) and deletes the folder.</summary>
        public void Stop()
        {
            if (Interlocked.Exchange(ref _stopped, 1) == 1)
            {
                return;
            }

            NpgsqlConnection.ClearAllPools();
            if (File.Exists(Path.Combine(DataDir, "postmaster.pid")))
            {
                try
                {
                    PgAsync("pg_ctl", ["-D", DataDir, "-m", "immediate", "-w", "stop"]).GetAwaiter().GetResult();
                }
                catch (InvalidOperationException)
                {
                    // Already stopped; the folder goes anyway.
                }
            }

            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
                // Left to the OS temp cleaner.
            }
        }

        /// <summary>
        /// The test host may be killed before its exit handlers finish (or crash): a detached shell waits for this
        /// process to end, then stops the server and deletes the folder. Normally <see cref="Stop"/> got there first.
        /// </summary>
        private void StartWatchdog()
        {
            const string script =
                "exec </dev/null >/dev/null 2>&1; while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; " +
                "if [ -f \"$3/postmaster.pid\" ]; then " +
                "if [ -n \"$5\" ]; then runuser -u \"$5\" -- \"$2\" -D \"$3\" -m immediate -w stop; else \"$2\" -D \"$3\" -m immediate -w stop; fi; " +
                "fi; rm -rf \"$4\"";
            string[] args = ["-c", script, "cybexp-pg-watchdog", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), Path.Combine(_bin, "pg_ctl"), DataDir, _dir, _runAs ?? string.Empty];
            var setsid = new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists);

            // setsid -f: the shell is re-parented at once, so killing this process tree leaves it running.
            var psi = setsid is null ? new ProcessStartInfo("sh") : new ProcessStartInfo(setsid) { ArgumentList = { "-f", "sh" } };
            foreach (var a in args)
            {
                psi.ArgumentList.Add(a);
            }

            // Its standard streams are pipes of ours, never the test host's console (which the runner reads to the end).
            psi.UseShellExecute = false;
            psi.RedirectStandardInput = true;
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            using var watchdog = Process.Start(psi);
            watchdog?.StandardInput.Close();
        }

        private Task<string> PgAsync(string tool, IReadOnlyList<string> args)
        {
            var exe = Path.Combine(_bin, tool);
            return _runAs is null ? RunAsync(exe, args, _dir) : RunAsync("runuser", ["-u", _runAs, "--", exe, .. args], _dir);
        }

        private static async Task<string> RunAsync(string file, IReadOnlyList<string> args, string? workingDirectory)
        {
            var psi = new ProcessStartInfo(file)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
                WorkingDirectory = workingDirectory ?? string.Empty,
            };
            foreach (var a in args)
            {
                psi.ArgumentList.Add(a);
            }

            using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"{file} {string.Join(' ', args)} did not finish within 5 minutes");
            }

            var output = new StringBuilder().Append(await stdout.ConfigureAwait(false)).Append(await stderr.ConfigureAwait(false)).ToString();
            return process.ExitCode == 0
                ? output
                : throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {output.Trim()}");
        }

        private static int FreePort()
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            return ((IPEndPoint)probe.LocalEndpoint).Port;
        }
    }
}
