using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Cybexp.Report.Service.Http;

/// <summary>Every error and notice body: <c>{"message": "..."}</c>, as the original API answers.</summary>
internal sealed record ApiMessage(string Message);

/// <summary>The answer to an accepted submission.</summary>
internal sealed record QueryAccepted(long Id, string Status);

/// <summary>The original API's answer while a query is not done: <c>{"message":"check back later","status":"processing"}</c>.</summary>
internal sealed record CheckBackLater(string Message, string Status);

/// <summary>A query's state: times are epoch seconds; <c>finished</c> and <c>error</c> only once it ended.</summary>
internal sealed record QueryState(
    long Id,
    string Type,
    string Status,
    double Submitted,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Finished,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);

/// <summary>The <c>/healthz</c> answer.</summary>
internal sealed record HealthState(string Status, string Store);

/// <summary>What <c>POST /api/v1/queries</c> accepts (for the OpenAPI document; the body is read by hand).</summary>
internal sealed record SubmitQueryRequest(string Type, Dictionary<string, object>? Data, string? Encrypted, NotifyRequest? Notify);

/// <summary>The optional socket to notify when the query ends.</summary>
internal sealed record NotifyRequest(string Host, int Port, string Nonce);

/// <summary>What the original's <c>POST /query</c> accepts (for the OpenAPI document).</summary>
internal sealed record LegacyQueryRequest(string Type, object Data, bool? Redo);

/// <summary>Endpoint metadata naming the JSON body an endpoint reads (for the OpenAPI document).</summary>
internal sealed record JsonRequestBody(Type Type);

/// <summary>Endpoint metadata marking endpoints that need a bearer token (for the OpenAPI document).</summary>
internal sealed record BearerTokenRequired;

/// <summary>Builds the JSON answers.</summary>
internal static class ApiResults
{
    /// <summary>The JSON content type of every answer.</summary>
    public const string Json = "application/json";

    /// <summary><c>{"message": …}</c> with <paramref name="status"/>.</summary>
    public static IResult Message(int status, string message) => Results.Json(new ApiMessage(message), statusCode: status);

    /// <summary>A stored JSON document (a report) as it is, with <paramref name="status"/>.</summary>
    public static IResult Document(int status, string? json) => Results.Text(json ?? "null", Json, System.Text.Encoding.UTF8, status);

    /// <summary>The original's 202 answer.</summary>
    public static IResult CheckBackLater() =>
        Results.Json(new CheckBackLater("check back later", "processing"), statusCode: StatusCodes.Status202Accepted);
}
