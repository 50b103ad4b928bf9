namespace Cybexp.Report.Service.Http;

/// <summary>Settings of the HTTP API: where it listens, how it checks tokens, and its limits.</summary>
public sealed record ReportHttpApiOptions
{
    /// <summary>The default listen address.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>
    /// Listen addresses, e.g. <c>http://127.0.0.1:8080</c>; port 0 picks a free port (read the bound address with
    /// <see cref="ReportHttpApi.BoundAddresses"/> after start).
    /// </summary>
    public IReadOnlyList<string> Urls { get; init; } = [DefaultUrl];

    /// <summary>The HS256 secret tokens are signed with. Required: there is no default.</summary>
    public string? JwtSecret { get; init; }

    /// <summary>Largest accepted request body; larger bodies get 413. Default 1 MiB.</summary>
    public long MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>Longest <c>?wait=</c> a client may ask for on <c>GET /api/v1/queries/{id}</c>. Default 60 s.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long the original's <c>POST /query</c> waits for a new query to end before answering 202 (the original's
    /// 5 s socket accept timeout).
    /// </summary>
    public TimeSpan LegacyQueryWait { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long <c>/healthz</c> waits for the store to answer before calling it unreachable.</summary>
    public TimeSpan HealthTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
