using System.Collections;
using System.Globalization;
using Cybexp.Report.Service.Hosting;
using Cybexp.Report.Service.Notification;
using Cybexp.Report.Service.Worker;
using Microsoft.Extensions.Configuration;

namespace Cybexp.Report.Cli.Configuration;

/// <summary>A configuration value is missing its file, malformed or out of range; the message names the key.</summary>
public sealed class SettingsException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The settings every long-running command shares (<c>worker</c>, <c>serve</c>), read from three sources in
/// increasing precedence: <c>appsettings.json</c> in the current directory (optional), <c>CYBEXP_*</c> environment
/// variables, then command-line flags.
/// </summary>
/// <remarks>
/// <para>Keys (case-insensitive; sections separated by <c>:</c> in code and nested objects in JSON):</para>
/// <list type="table">
/// <item><term>Store</term><description><c>sqlite:PATH</c> or <c>postgres:CONNECTION_STRING</c>; default <c>sqlite:cybexp-data/cybexp.db</c>.</description></item>
/// <item><term>Key</term><description>Path of the cluster's private key (PEM) for encrypted query data.</description></item>
/// <item><term>ApiHost</term><description>Host that loopback notification addresses stand for; default <c>localhost</c>.</description></item>
/// <item><term>Notify:Allow</term><description>Hosts notifications may go to besides the API host: a JSON array, or a comma-separated list; default loopback only.</description></item>
/// <item><term>Worker:Id, Worker:Parallelism, Worker:Lease, Worker:Poll, Worker:MaxAttempts, Worker:ShutdownDeadline, Worker:Now, Worker:ThreatRankGraphs</term>
/// <description>See <see cref="WorkerOptions"/>; durations in seconds, <c>Now</c> in epoch seconds.</description></item>
/// </list>
/// <para>Environment variables: <c>CYBEXP_</c>, then the key with <c>__</c> between sections and <c>_</c> allowed
/// between words (ignored when matching): <c>CYBEXP_STORE</c>, <c>CYBEXP_KEY</c>, <c>CYBEXP_API_HOST</c>,
/// <c>CYBEXP_NOTIFY__ALLOW=host1,host2</c>, <c>CYBEXP_WORKER__PARALLELISM=8</c>, <c>CYBEXP_WORKER__MAX_ATTEMPTS=5</c>,
/// <c>CYBEXP_JWT_SECRET</c> (key <c>JwtSecret</c>, read by <c>serve</c>).</para>
/// </remarks>
public sealed record CybexpSettings
{
    /// <summary>The prefix of the environment variables read.</summary>
    public const string EnvironmentPrefix = "CYBEXP_";

    /// <summary>The optional settings file, looked up in the current directory.</summary>
    public const string FileName = "appsettings.json";

    /// <summary>Help text describing the sources and the environment variable scheme, for command descriptions.</summary>
    public const string HelpText = """
        Configuration: appsettings.json in the current directory (optional), then CYBEXP_* environment variables, then
        flags; later sources win. Keys: Store, Key, ApiHost, Notify:Allow, Worker:{Id, Parallelism, Lease, Poll,
        MaxAttempts, ShutdownDeadline, Now, ThreatRankGraphs}. Environment names: CYBEXP_ + key, sections joined by '__', '_' allowed
        between words: CYBEXP_STORE, CYBEXP_KEY, CYBEXP_API_HOST, CYBEXP_NOTIFY__ALLOW=host1,host2,
        CYBEXP_WORKER__PARALLELISM=8, CYBEXP_WORKER__LEASE=30, CYBEXP_WORKER__MAX_ATTEMPTS=3.
        appsettings.json example: {"Store": "postgres:Host=db;Database=cybexp;Username=report",
        "Worker": {"Parallelism": 8}, "Notify": {"Allow": ["api.internal"]}}
        """;

    /// <summary>The store spec.</summary>
    public string Store { get; init; } = StoreLocator.DefaultSpec;

    /// <summary>Path of the private key PEM, or null.</summary>
    public string? Key { get; init; }

    /// <summary>Worker options.</summary>
    public WorkerOptions Worker { get; init; } = new();

    /// <summary>Notification options (API host and allow-list).</summary>
    public NotifierOptions Notifier { get; init; } = new();

    /// <summary>
    /// Builds the layered configuration: <see cref="FileName"/> in <paramref name="directory"/> (default: the current
    /// directory), the <c>CYBEXP_*</c> variables of <paramref name="environment"/> (default: the process environment),
    /// then <paramref name="flags"/> (key/value pairs with the keys above; null values are skipped).
    /// </summary>
    /// <exception cref="SettingsException">The settings file exists but is not valid JSON.</exception>
    public static IConfigurationRoot BuildConfiguration(
        IEnumerable<KeyValuePair<string, string?>>? flags = null, string? directory = null, IDictionary? environment = null)
    {
        var dir = Path.GetFullPath(directory ?? Directory.GetCurrentDirectory());
        var builder = new ConfigurationBuilder()
            .SetBasePath(dir)
            .AddJsonFile(FileName, optional: true, reloadOnChange: false)
            .AddInMemoryCollection(FromEnvironment(environment ?? Environment.GetEnvironmentVariables()))
            .AddInMemoryCollection((flags ?? []).Where(f => f.Value is not null));
        try
        {
            return builder.Build();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or System.Text.Json.JsonException)
        {
            throw new SettingsException($"{Path.Combine(dir, FileName)} is not valid JSON: {(e.InnerException ?? e).Message}", e);
        }
    }

    /// <summary>The configuration keys of the <c>CYBEXP_*</c> variables in <paramref name="environment"/>, in ordinal order of name.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> FromEnvironment(IDictionary environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var result = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is string name && name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase) && name.Length > EnvironmentPrefix.Length)
            {
                var sections = name[EnvironmentPrefix.Length..].Split("__").Select(s => s.Replace("_", string.Empty, StringComparison.Ordinal));
                result[string.Join(':', sections)] = entry.Value as string;
            }
        }

        return result;
    }

    /// <summary>Reads and validates the settings.</summary>
    /// <exception cref="SettingsException">A value is malformed or out of range; the message names the key.</exception>
    public static CybexpSettings Load(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var defaults = new WorkerOptions();
        var worker = new WorkerOptions
        {
            WorkerId = Text(configuration, "Worker:Id") ?? defaults.WorkerId,
            Parallelism = Integer(configuration, "Worker:Parallelism") ?? defaults.Parallelism,
            Lease = Seconds(configuration, "Worker:Lease") ?? defaults.Lease,
            PollInterval = Seconds(configuration, "Worker:Poll") ?? defaults.PollInterval,
            MaxAttempts = Integer(configuration, "Worker:MaxAttempts") ?? defaults.MaxAttempts,
            ShutdownDeadline = Seconds(configuration, "Worker:ShutdownDeadline") ?? defaults.ShutdownDeadline,
            FixedNow = Number(configuration, "Worker:Now"),
            ThreatRankGraphs = Integer(configuration, "Worker:ThreatRankGraphs") ?? defaults.ThreatRankGraphs,
        };
        try
        {
            worker.Validate();
        }
        catch (ArgumentException e)
        {
            throw new SettingsException("Worker: " + e.Message, e);
        }

        var apiHost = Text(configuration, "ApiHost") ?? "localhost";
        return new CybexpSettings
        {
            Store = Text(configuration, "Store") ?? StoreLocator.DefaultSpec,
            Key = Text(configuration, "Key"),
            Worker = worker,
            Notifier = new NotifierOptions { ApiHost = apiHost, AllowedHosts = HostList(configuration, "Notify:Allow") ?? NotifierOptions.LoopbackOnly },
        };
    }

    private static string? Text(IConfiguration c, string key) => c[key] is { } v && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;

    private static int? Integer(IConfiguration c, string key) =>
        Text(c, key) is not { } v ? null
        : int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n
        : throw new SettingsException($"{key} must be a whole number, got '{v}'");

    private static double? Number(IConfiguration c, string key) =>
        Text(c, key) is not { } v ? null
        : double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n) ? n
        : throw new SettingsException($"{key} must be a number, got '{v}'");

    private static TimeSpan? Seconds(IConfiguration c, string key) =>
        Number(c, key) is not { } s ? null
        : s is > 0 and <= 86_400 ? TimeSpan.FromSeconds(s)
        : throw new SettingsException($"{key} must be a number of seconds from 0 to 86400 (exclusive of 0), got {s.ToString(CultureInfo.InvariantCulture)}");

    // A JSON array (children) or a comma-separated value; a value set by a later source (environment, flag) wins.
    private static string[]? HostList(IConfiguration c, string key)
    {
        var section = c.GetSection(key);
        var items = section.Value is { } v
            ? v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [.. section.GetChildren().Select(ch => ch.Value?.Trim()).OfType<string>().Where(s => s.Length > 0)];
        return section.Value is null && items.Length == 0 ? null : items;
    }
}
