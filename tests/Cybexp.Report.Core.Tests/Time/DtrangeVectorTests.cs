using System.Text.Json;
using Cybexp.Report.Core.Time;

namespace Cybexp.Report.Core.Tests.Time;

/// <summary>Every case of <c>vectors/dtrange.json</c>, checked by id.</summary>
public sealed class DtrangeVectorTests
{
    // The original's clock was mocked to NOW, but dateutil filled missing date parts from the real
    // date, 2026-11-28 (visible in dt-081's start_utc_iso; the file names it generated_on_utc_date
    // without recording it). Cases tagged depends_on_today therefore run with a `now` on that
    // date, and their end, which is `now`, is checked against that injected `now`.
    private static readonly double GeneratedOnNow = new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();

    // Date texts carrying their own offset: the original failed ("Not naive datetime"); we honour
    // the offset (vectors/README.md, deviation 2). The instants are worked out by hand.
    private static readonly Dictionary<string, (string Field, double Seconds)> HonouredOffsets = new()
    {
        ["dt-076"] = ("from", 1609475400), // 2021-01-01T10:00:00+05:30 = 04:30Z
        ["dt-077"] = ("from", 1609495200), // 2021-01-01T10:00:00Z
        ["dt-078"] = ("to", 1609495200),   // 2021-01-01 10:00 UTC
    };

    private static readonly Lazy<JsonDocument> File = new(() =>
        JsonDocument.Parse(System.IO.File.ReadAllText(Vectors.Path("dtrange.json"))));

    public static TheoryData<string> CaseIds() => new(LoadIds());

    private static List<string> LoadIds() =>
        File.Value.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("id").GetString()!).ToList();

    [Fact]
    public void File_HoldsCasesWithDistinctIds()
    {
        var ids = LoadIds();
        Assert.True(ids.Count >= 96, $"only {ids.Count} cases loaded");
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [MemberData(nameof(CaseIds))]
    public void Case_MatchesOriginalOrDocumentedDeviation(string id)
    {
        var root = File.Value.RootElement;
        var c = root.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("id").GetString() == id);
        var input = c.GetProperty("input");
        var from = Text(input.GetProperty("from_"));
        var to = Text(input.GetProperty("to"));
        var last = Text(input.GetProperty("last"));
        var tzname = Text(input.GetProperty("tzname"));
        var dependsOnToday = c.GetProperty("tags").EnumerateArray().Any(t => t.GetString() == "depends_on_today");
        var now = dependsOnToday ? GeneratedOnNow : root.GetProperty("NOW").GetDouble();
        var expected = c.GetProperty("expected");

        var result = TimeRangeResolver.Resolve(from, to, last, tzname, now);

        if (expected.TryGetProperty("error", out var error))
        {
            AssertExpectedError(id, error, result, from, to);
            return;
        }

        var start = expected.GetProperty("start");
        var end = expected.GetProperty("end");
        if (start.ValueKind == JsonValueKind.Object || end.ValueKind == JsonValueKind.Object)
        {
            // {"$nonfinite": ...}: the original accepted inf/nan; we reject them (deviation 2).
            var field = start.ValueKind == JsonValueKind.Object ? "from" : "to";
            AssertFailed(result, field);
            Assert.Contains("finite", result.Error!.Message, StringComparison.Ordinal);
            return;
        }

        Assert.True(result.Success, result.ToString());
        // Both sides are the same IEEE doubles (Python's float and .NET's double round alike), so
        // the comparison is exact.
        Assert.Equal(start.GetDouble(), result.Value.Start);
        Assert.Equal(dependsOnToday ? now : end.GetDouble(), result.Value.End);
    }

    private static void AssertExpectedError(string id, JsonElement error, TimeRangeResult result, string? from, string? to)
    {
        var type = error.GetProperty("type").GetString();
        var message = error.GetProperty("message").GetString()!;
        if (type == "InvalidParameterValue")
        {
            // "Invalid 'last'=…!", "Invalid 'tzname'=…!", "Don't specify both 'last' and 'from/to'!"
            var field = message.StartsWith("Invalid 'tzname'", StringComparison.Ordinal) ? "tzname" : "last";
            AssertFailed(result, field);
            return;
        }

        if (message.StartsWith("Not naive datetime", StringComparison.Ordinal))
        {
            Assert.True(HonouredOffsets.TryGetValue(id, out var honoured), $"{id}: add the instant this offset text denotes");
            Assert.True(result.Success, result.ToString());
            Assert.Equal(honoured.Seconds, honoured.Field == "from" ? result.Value.Start : result.Value.End);
            return;
        }

        // A dateutil ParserError ("Unknown string format: X", "day is out of range for month: X"),
        // which the original turned into a server error: ours names the field and the value.
        Assert.Equal("ParserError", type);
        var failedText = message[(message.LastIndexOf(": ", StringComparison.Ordinal) + 2)..];
        var failedField = from == failedText ? "from" : to == failedText ? "to" : throw new InvalidOperationException(id);
        AssertFailed(result, failedField);
        Assert.Contains($"'{failedText}'", result.Error!.Message, StringComparison.Ordinal);
    }

    private static void AssertFailed(TimeRangeResult result, string field)
    {
        Assert.False(result.Success, $"expected an error for '{field}', got {result}");
        Assert.Equal(field, result.Error.Field);
        Assert.Contains($"'{field}'", result.Error.Message, StringComparison.Ordinal);
    }

    // JSON null → not given; a number → its text, except 0, which is falsy in the original
    // (`if to:`) and so means "not given" (dt-007).
    private static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.GetDouble() == 0 ? null : value.GetRawText(),
        _ => throw new InvalidOperationException($"unexpected input {value}"),
    };
}
