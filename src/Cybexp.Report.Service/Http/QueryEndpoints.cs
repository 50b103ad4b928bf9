using System.Globalization;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Cybexp.Report.Service.Http;

/// <summary>
/// The query endpoints: <c>/api/v1/queries</c> (submit, status with long-poll, report) and the original's
/// <c>POST /query</c>. Every handler runs after <see cref="BearerAuthentication"/>; a user sees only their own queries.
/// </summary>
internal sealed class QueryEndpoints(ICybexpStore store, ReportHttpApiOptions options, TimeProvider time, ILogger log)
{
    private const double SecondsPerHour = 3600;

    public async Task<IResult> SubmitAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var user = BearerAuthentication.UserOf(context);
        var body = await RequestBody.ReadJsonAsync(context.Request, options.MaxBodyBytes, DuplicateKeys.Reject, m => m, time, ct).ConfigureAwait(false);
        if (body.Refusal is not null)
        {
            return body.Refusal;
        }

        var parsed = QueryRequests.Parse(body.Value!, user.Hash.Value);
        if (parsed.Submission is not { } submission)
        {
            return ApiResults.Message(StatusCodes.Status400BadRequest, parsed.Error!);
        }

        var id = await store.Queries.EnqueueAsync(submission, ct).ConfigureAwait(false);
        log.LogInformation("query {Id} ({Type}) submitted by {User}", id, submission.QType, user.Hash);
        return Results.Json(new QueryAccepted(id, QueryStatus.Wait), statusCode: StatusCodes.Status202Accepted)
            .WithLocation($"/api/v1/queries/{id.ToString(CultureInfo.InvariantCulture)}");
    }

    public async Task<IResult> StatusAsync(HttpContext context, string id)
    {
        var ct = context.RequestAborted;
        if (!TryParseId(id, out var queryId, out var idError))
        {
            return idError;
        }

        var wait = TimeSpan.Zero;
        if (context.Request.Query.TryGetValue("wait", out var waitText) && !TryParseWait(waitText.ToString(), out wait))
        {
            return ApiResults.Message(
                StatusCodes.Status400BadRequest,
                string.Create(CultureInfo.InvariantCulture, $"'wait' must be a number of seconds from 0 to {options.MaxWait.TotalSeconds:0.###}"));
        }

        var record = await OwnQueryAsync(context, queryId, ct).ConfigureAwait(false);
        if (record is null)
        {
            return NoSuchQuery(queryId);
        }

        if (wait > TimeSpan.Zero && !HasEnded(record))
        {
            record = await store.Queries.WaitForEndAsync(queryId, wait, ct).ConfigureAwait(false) ?? record;
        }

        return Results.Json(new QueryState(
            record.Id,
            record.QType,
            record.Status,
            record.SubmittedAt,
            HasEnded(record) ? record.FinishedAt : null,
            record.Status == QueryStatus.Failed ? record.Error : null));
    }

    public async Task<IResult> ReportAsync(HttpContext context, string id)
    {
        var ct = context.RequestAborted;
        if (!TryParseId(id, out var queryId, out var idError))
        {
            return idError;
        }

        var record = await OwnQueryAsync(context, queryId, ct).ConfigureAwait(false);
        if (record is null)
        {
            return NoSuchQuery(queryId);
        }

        return HasEnded(record) && record.ReportJson is not null
            ? ApiResults.Document(StatusCodes.Status200OK, record.ReportJson)
            : ApiResults.Message(StatusCodes.Status404NotFound, $"no report yet: the query is {record.Status}");
    }

    /// <summary>
    /// The original's <c>POST /query</c>: the same user asking the same query (type and qhash) within the same UTC
    /// clock hour gets the stored query: 201 with its report once it ended, 202 while a worker has it. A new query
    /// (or <c>redo</c>) is queued, then waited for up to <see cref="ReportHttpApiOptions.LegacyQueryWait"/>.
    /// </summary>
    public async Task<IResult> LegacyQueryAsync(HttpContext context)
    {
        var ct = context.RequestAborted;
        var user = BearerAuthentication.UserOf(context);
        var body = await RequestBody.ReadJsonAsync(context.Request, options.MaxBodyBytes, DuplicateKeys.LastWins, InvalidFormat, time, ct).ConfigureAwait(false);
        if (body.Refusal is not null)
        {
            return body.Refusal;
        }

        if (body.Value is not TahoeDict fields)
        {
            return BadFormat(InvalidFormat("the body must be a JSON object {\"type\": …, \"data\": …}"));
        }

        // The original reads request.get_json()['type'] and ['data']: a missing key is a KeyError.
        foreach (var key in (ReadOnlySpan<string>)["type", "data"])
        {
            if (fields[key] is null)
            {
                return BadFormat($"Invalid query format! KeyError('{key}')'{key}'");
            }
        }

        if (fields["type"] is not TahoeString { Value: var qtype })
        {
            return BadFormat(InvalidFormat("'type' must be a string"));
        }

        var redo = QueryRequests.IsTruthy(fields["redo"]);
        var canonical = Canonical.Of(fields["data"]!);
        var qhash = QueryRequests.QHashOf(canonical);
        var userId = user.Hash.Value;
        var now = time.NowSeconds();
        var hourStart = Math.Floor(now / SecondsPerHour) * SecondsPerHour;

        // Find-or-enqueue is one atomic store step, so identical requests racing through several API processes on one
        // store end up with one query.
        var submitted = await store.Queries.SubmitOnceAsync(new QuerySubmission(qtype, canonical, false, userId, qhash, null), hourStart, redo, ct).ConfigureAwait(false);
        var id = submitted.Id;
        switch (submitted.Existing)
        {
            case null:
                log.LogInformation("query {Id} ({Type}) submitted by {User} through /query", id, qtype, user.Hash);
                break;
            case var existing when !redo && HasEnded(existing):
                return ApiResults.Document(StatusCodes.Status201Created, existing.ReportJson);
            case { Status: QueryStatus.Processing } when !redo:
                return ApiResults.CheckBackLater();
            default:
                // Waiting, or redo: the original re-arms the same query. A redo of a query a worker holds right now
                // cannot be requeued; its current run is the fresh answer.
                if (submitted.Requeued)
                {
                    log.LogInformation("query {Id} ({Type}) requeued by {User} (redo)", id, qtype, user.Hash);
                }

                break;
        }

        var ended = await store.Queries.WaitForEndAsync(id, options.LegacyQueryWait, ct).ConfigureAwait(false);
        return ended is not null && HasEnded(ended)
            ? ApiResults.Document(StatusCodes.Status201Created, ended.ReportJson)
            : ApiResults.CheckBackLater();
    }

    private static string InvalidFormat(string message) => "Invalid query format! " + message;

    private static IResult BadFormat(string message) => ApiResults.Message(StatusCodes.Status400BadRequest, message);

    private static bool HasEnded(QueryRecord record) => record.Status is QueryStatus.Ready or QueryStatus.Failed;

    private static IResult NoSuchQuery(long id) =>
        ApiResults.Message(StatusCodes.Status404NotFound, string.Create(CultureInfo.InvariantCulture, $"no query with id {id}"));

    private static bool TryParseId(string text, out long id, out IResult error)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id > 0)
        {
            error = Results.Empty;
            return true;
        }

        error = ApiResults.Message(StatusCodes.Status400BadRequest, $"the query id must be a positive integer, not '{Shorten(text)}'");
        return false;
    }

    private bool TryParseWait(string text, out TimeSpan wait)
    {
        wait = TimeSpan.Zero;
        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) ||
            !double.IsFinite(seconds) || seconds > options.MaxWait.TotalSeconds)
        {
            return false;
        }

        wait = TimeSpan.FromSeconds(seconds);
        return true;
    }

    // Another user's query answers exactly as a missing one: its existence is not revealed.
    private async Task<QueryRecord?> OwnQueryAsync(HttpContext context, long id, CancellationToken ct)
    {
        var user = BearerAuthentication.UserOf(context);
        var record = await store.Queries.GetAsync(id, ct).ConfigureAwait(false);
        return record is not null && string.Equals(record.UserId, user.Hash.Value, StringComparison.OrdinalIgnoreCase) ? record : null;
    }

    private static string Shorten(string s) => s.Length > 40 ? s[..40] + "…" : s;
}

/// <summary>Small additions to <see cref="IResult"/>.</summary>
internal static class ResultExtensions
{
    /// <summary>Adds a <c>Location</c> header to <paramref name="result"/>.</summary>
    public static IResult WithLocation(this IResult result, string location) => new LocatedResult(result, location);

    private sealed class LocatedResult(IResult inner, string location) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.Location = location;
            return inner.ExecuteAsync(httpContext);
        }
    }
}
