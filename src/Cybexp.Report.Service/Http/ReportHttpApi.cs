using System.Data.Common;
using Cybexp.Report.Core.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.OpenApi;

namespace Cybexp.Report.Service.Http;

/// <summary>
/// The report module's HTTP API (ASP.NET Core minimal APIs on Kestrel): submit queries, follow them, fetch their
/// reports, and the original CYBEX-P <c>POST /query</c>. Host it with <see cref="Build"/>, then
/// <c>StartAsync</c>, <see cref="BoundAddresses"/>, <c>StopAsync</c> and <c>DisposeAsync</c> on the returned
/// application. It does not compute reports: a report worker on the same store does.
/// </summary>
/// <remarks>
/// Endpoints (all JSON; every one but <c>/ping</c>, <c>/healthz</c> and <c>/openapi/v1.json</c> needs
/// <c>Authorization: Bearer &lt;JWT&gt;</c>):
/// <list type="bullet">
/// <item><c>POST /api/v1/queries</c> → 202 <c>{"id","status":"wait"}</c>; 400 bad shape; 413 body too large.</item>
/// <item><c>GET /api/v1/queries/{id}[?wait=SECONDS]</c> → 200 state; 400 bad id or wait; 404 unknown or not yours.</item>
/// <item><c>GET /api/v1/queries/{id}/report</c> → 200 report document; 404 until the query ended.</item>
/// <item><c>POST /query</c> (original) → 201 report document, 202 check back later, 400 invalid query format.</item>
/// <item><c>GET /ping</c> → 200 pong; <c>GET /healthz</c> → 200 or 503.</item>
/// </list>
/// </remarks>
public static class ReportHttpApi
{
    private const string BearerScheme = "bearer";

    /// <summary>The message when no JWT secret is configured.</summary>
    public const string MissingSecretMessage =
        "the HTTP API needs a JWT secret to check tokens: pass --jwt-secret or set CYBEXP_JWT_SECRET (there is no default)";

    /// <summary>Builds the API (not started) over <paramref name="store"/>.</summary>
    /// <exception cref="ArgumentException">No JWT secret, no listen URL, a URL that is not <c>http://host:port</c>, or a non-positive limit.</exception>
    public static WebApplication Build(ReportHttpApiOptions options, ICybexpStore store, TimeProvider time, ILoggerFactory? logs = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        var secret = string.IsNullOrEmpty(options.JwtSecret) ? throw new ArgumentException(MissingSecretMessage, nameof(options)) : options.JwtSecret;
        var urls = CheckUrls(options.Urls);
        if (options.MaxBodyBytes <= 0 || options.MaxWait < TimeSpan.Zero || options.LegacyQueryWait < TimeSpan.Zero || options.HealthTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("the body limit and the health timeout must be positive and the waits not negative", nameof(options));
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(ReportHttpApi).Assembly.GetName().Name });
        if (logs is not null)
        {
            builder.Services.AddSingleton(logs);
        }

        builder.Services.AddLogging();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // The API enforces MaxBodyBytes itself (413 with a message); the server's limit only bounds draining.
            kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes > long.MaxValue / RequestBody.DrainFactor ? null : options.MaxBodyBytes * RequestBody.DrainFactor;
        });
        builder.WebHost.UseUrls([.. urls]);
        builder.Services.AddRoutingCore();
        builder.Services.AddOpenApi(openApi => openApi
            .AddDocumentTransformer(DescribeDocument)
            .AddOperationTransformer(DescribeOperationAsync));

        var app = builder.Build();
        var log = (logs ?? NullLoggerFactory.Instance).CreateLogger("Cybexp.Report.Service.Http");
        app.Use((context, next) => GuardAsync(context, next, log));

        app.MapGet("/ping", () => Results.Json(new ApiMessage("pong")))
            .WithName("Ping").WithSummary("Liveness: answers {\"message\":\"pong\"}.").Produces<ApiMessage>();
        app.MapGet("/healthz", (Func<HttpContext, Task<IResult>>)(context => HealthAsync(context, store, options, time)))
            .WithName("Health").WithSummary("200 when the store answers, else 503.")
            .Produces<HealthState>().Produces<HealthState>(StatusCodes.Status503ServiceUnavailable);
        app.MapOpenApi();

        var queries = new QueryEndpoints(store, options, time, log);
        var secured = app.MapGroup(string.Empty)
            .AddEndpointFilter(new BearerAuthentication(secret, store.Identity, time, log))
            .WithMetadata(new BearerTokenRequired())
            .WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status401Unauthorized, typeof(ApiMessage), [ApiResults.Json]));
        secured.MapPost("/api/v1/queries", (Func<HttpContext, Task<IResult>>)queries.SubmitAsync)
            .WithName("SubmitQuery").WithSummary("Queue a query: {\"type\", \"data\"} or {\"type\", \"encrypted\"}, optional \"notify\".")
            .WithMetadata(new JsonRequestBody(typeof(SubmitQueryRequest)))
            .Produces<QueryAccepted>(StatusCodes.Status202Accepted)
            .Produces<ApiMessage>(StatusCodes.Status400BadRequest)
            .Produces<ApiMessage>(StatusCodes.Status413PayloadTooLarge);
        secured.MapGet("/api/v1/queries/{id}", (Func<HttpContext, string, Task<IResult>>)queries.StatusAsync)
            .WithName("GetQuery").WithSummary("A query's status; ?wait=SECONDS answers as soon as it ends.")
            .Produces<QueryState>()
            .Produces<ApiMessage>(StatusCodes.Status400BadRequest)
            .Produces<ApiMessage>(StatusCodes.Status404NotFound);
        secured.MapGet("/api/v1/queries/{id}/report", (Func<HttpContext, string, Task<IResult>>)queries.ReportAsync)
            .WithName("GetReport").WithSummary("The report document of a query that ended (ready or failed).")
            .Produces(StatusCodes.Status200OK, contentType: ApiResults.Json)
            .Produces<ApiMessage>(StatusCodes.Status404NotFound);
        secured.MapPost("/query", (Func<HttpContext, Task<IResult>>)queries.LegacyQueryAsync)
            .WithName("LegacyQuery").WithSummary("The original CYBEX-P API: 201 with the report, or 202 check back later.")
            .WithMetadata(new JsonRequestBody(typeof(LegacyQueryRequest)))
            .Produces(StatusCodes.Status201Created, contentType: ApiResults.Json)
            .Produces<CheckBackLater>(StatusCodes.Status202Accepted)
            .Produces<ApiMessage>(StatusCodes.Status400BadRequest);

        app.MapFallback((Func<HttpContext, IResult>)(context => NoEndpoint(context, app.Services.GetRequiredService<EndpointDataSource>())));
        return app;
    }

    // A path that exists with other methods is 405 with an Allow header (RFC 9110 §15.5.6); any other path is 404.
    private static IResult NoEndpoint(HttpContext context, EndpointDataSource endpoints)
    {
        var path = context.Request.Path;
        var allowed = endpoints.Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && !raw.Contains("{*", StringComparison.Ordinal) &&
                        new TemplateMatcher(TemplateParser.Parse(raw), []).TryMatch(path, []))
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (allowed.Count == 0)
        {
            return ApiResults.Message(StatusCodes.Status404NotFound, "no such endpoint; see /openapi/v1.json");
        }

        context.Response.Headers.Allow = string.Join(", ", allowed);
        return ApiResults.Message(
            StatusCodes.Status405MethodNotAllowed,
            $"method {context.Request.Method} is not allowed on {path}; allowed: {string.Join(", ", allowed)}");
    }

    /// <summary>
    /// The addresses the started <paramref name="app"/> listens on, with the actual ports (a configured port 0 shows
    /// the port the system picked).
    /// </summary>
    /// <exception cref="InvalidOperationException">The application has no server addresses (it was not started).</exception>
    public static IReadOnlyList<Uri> BoundAddresses(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is null || addresses.Count == 0 || addresses.Any(a => a.EndsWith(":0", StringComparison.Ordinal)))
        {
            throw new InvalidOperationException("the HTTP API is not listening yet: start it first");
        }

        return [.. addresses.Select(a => new Uri(a, UriKind.Absolute))];
    }

    private static Task DescribeDocument(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info.Title = "CYBEX-P report module";
        document.Info.Description = "Submit report queries (count, related, threatrank), follow them and fetch their reports. "
            + "Every endpoint but /ping, /healthz and this document needs 'Authorization: Bearer <JWT>' "
            + "(HS256, payload {sub_type, _hash, jti} with _hash = the user's hash; cybexp-report token prints one).";
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>(StringComparer.Ordinal);
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "JWT",
            Description = "A CYBEX-P access token (HS256).",
        };
        return Task.CompletedTask;
    }

    // Bodies are read by hand (for exact limits and messages), and Accepts<T>() would refuse requests whose
    // Content-Type is not JSON; the document gets the request schema from JsonRequestBody metadata instead.
    private static async Task DescribeOperationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        if (metadata.OfType<BearerTokenRequired>().Any())
        {
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] }];
        }

        if (metadata.OfType<JsonRequestBody>().FirstOrDefault() is not { } body)
        {
            return;
        }

        var schema = await context.GetOrCreateSchemaAsync(body.Type, null, cancellationToken).ConfigureAwait(false);
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal) { [ApiResults.Json] = new() { Schema = schema } },
        };
    }

    private static List<string> CheckUrls(IReadOnlyList<string>? urls)
    {
        if (urls is null || urls.Count == 0)
        {
            throw new ArgumentException("the HTTP API needs at least one listen URL, e.g. " + ReportHttpApiOptions.DefaultUrl, nameof(urls));
        }

        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp ||
                uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query) || url.Contains('@', StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{url}' is not a listen URL: use http://HOST:PORT, e.g. {ReportHttpApiOptions.DefaultUrl} (port 0 picks a free port)", nameof(urls));
            }
        }

        return [.. urls];
    }

    private static async Task<IResult> HealthAsync(HttpContext context, ICybexpStore store, ReportHttpApiOptions options, TimeProvider time)
    {
        var kind = store.Description.Split(':', 2)[0];
        using var timeout = new CancellationTokenSource(options.HealthTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, context.RequestAborted);
        bool up;
        try
        {
            up = await store.PingAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or StoreUnavailableException or DbException or TimeoutException)
        {
            up = false;
        }

        return up
            ? Results.Json(new HealthState("ok", kind))
            : Results.Json(new HealthState("unavailable", kind), statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    // The last line of defence: a client that went away gets nothing, a store outage a 503 naming it, anything
    // else the original's 500 "Server Error!" (the details go to the log, not to the client).
    private static async Task GuardAsync(HttpContext context, RequestDelegate next, ILogger log)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            log.LogDebug("the client of {Path} went away", context.Request.Path);
        }
        catch (Exception e) when (e is StoreUnavailableException or DbException or TimeoutException)
        {
            log.LogError(e, "the store failed during {Method} {Path}", context.Request.Method, context.Request.Path);
            await WriteIfPossibleAsync(context, StatusCodes.Status503ServiceUnavailable, "the report store is unavailable; try again later").ConfigureAwait(false);
        }
        catch (Exception e)
        {
            log.LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            await WriteIfPossibleAsync(context, StatusCodes.Status500InternalServerError, "Server Error!").ConfigureAwait(false);
        }
    }

    private static async Task WriteIfPossibleAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        context.Response.Clear();
        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(new ApiMessage(message), context.RequestAborted).ConfigureAwait(false);
    }
}
