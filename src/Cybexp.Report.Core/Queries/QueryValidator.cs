using System.Globalization;
using System.Text.RegularExpressions;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Queries;

/// <summary>
/// Validates query data against the original's schema (§5.1) plus our extensions, with messages that name the field,
/// the value and what is accepted. Unlike the original, non-integer numbers in integer fields (<c>2.0</c>) and a
/// missing <c>sub_type</c> for related are rejected here instead of failing later with "server error".
/// </summary>
public static partial class QueryValidator
{
    /// <summary>Attribute sub_types a query may ask about (<c>ip</c> is an alias of <c>ipv4</c>).</summary>
    public static readonly IReadOnlyList<string> SubTypes = ["asn", "body", "domain", "email_addr", "filename", "hostname", "sha256", "subject", "ip", "ipv4", "url"];

    private static readonly IReadOnlyList<string> Categories = ["all", "benign", "malicious", "unknown"];
    private static readonly IReadOnlyList<string> ReturnTypes = ["all", "attribute", "event", "object", "session"];
    private static readonly IReadOnlyDictionary<string, int> Intervals = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["1h"] = 3600,
        ["6h"] = 6 * 3600,
        ["1d"] = 86400,
        ["7d"] = 7 * 86400,
        ["30d"] = 30 * 86400,
    };

    /// <summary>Fields every query type accepts.</summary>
    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        "sub_type", "data", "from", "to", "last", "tzname", "category", "context", "return_type", "level", "page",
        "summary", "summary_graph", "_hash", "interval", "decay", "max_hops", "explain", "top",
    };

    /// <summary>The largest <c>top</c> a ranking may ask for.</summary>
    public const int MaxTop = 1000;

    /// <summary>Validates <paramref name="qdata"/> for report type <paramref name="qtype"/>.</summary>
    public static QueryValidation Validate(string qtype, TahoeValue qdata)
    {
        if (!QueryTypes.All.Contains(qtype))
        {
            return Fail($"'qtype' must be one of count, related, threatrank, got {Show(qtype)}");
        }

        if (qdata is not TahoeDict d)
        {
            return Fail($"the query data must be a JSON object, got {Describe(qdata)}");
        }

        foreach (var e in d.Entries)
        {
            if (!Known.Contains(e.Key))
            {
                return Fail($"unknown field '{(e.Key.Length > 40 ? e.Key[..40] + "…" : e.Key)}' (accepted: {string.Join(", ", Known.Order(StringComparer.Ordinal))})");
            }
        }

        var q = new ReportQuery { QType = qtype };
        string? error;
        if (d["sub_type"] is { } st)
        {
            if (st is not TahoeString { Value: var s } || !SubTypes.Contains(s))
            {
                return Fail($"'sub_type' must be one of {string.Join(", ", SubTypes)}, got {Describe(st)}");
            }

            q = q with { SubType = s == "ip" ? "ipv4" : s };
        }

        if (d.TryGet("data", out var data))
        {
            if (data is TahoeList or TahoeDict)
            {
                return Fail($"'data' must be a string, number, boolean or null, got {Describe(data)}");
            }

            q = q with { Data = data };
        }

        foreach (var field in new[] { "from", "to" })
        {
            if (d[field] is { } v)
            {
                var text = v switch
                {
                    TahoeString s => s.Value,
                    TahoeInt i => i.Digits,
                    TahoeFloat f when double.IsFinite(f.Value) => PythonText.FloatRepr(f.Value),
                    _ => null,
                };
                if (text is null)
                {
                    return Fail($"'{field}' must be a date text or epoch seconds, got {Describe(v)}");
                }

                q = field == "from" ? q with { From = text } : q with { To = text };
            }
        }

        if ((error = OptionalString(d, "last", out var last)) is not null)
        {
            return Fail(error);
        }

        if ((error = OptionalString(d, "tzname", out var tz)) is not null)
        {
            return Fail(error);
        }

        q = q with { Last = last, TzName = tz };

        if ((error = Enum(d, "category", Categories, out var category)) is not null ||
            (error = Enum(d, "context", Categories, out var context)) is not null ||
            (error = Enum(d, "return_type", ReturnTypes, out var returnType)) is not null)
        {
            return Fail(error);
        }

        q = q with
        {
            Category = category is null or "all" ? null : category,
            Context = context switch
            {
                "benign" => EventContext.Benign,
                "malicious" => EventContext.Malicious,
                "unknown" => EventContext.Unknown,
                _ => EventContext.All,
            },
            ReturnType = returnType ?? "all",
        };

        if ((error = Integer(d, "level", 1, 3, out var level)) is not null ||
            (error = Integer(d, "page", 1, int.MaxValue, out var page)) is not null ||
            (error = Integer(d, "max_hops", 1, 3, out var maxHops)) is not null ||
            (error = Integer(d, "top", 1, MaxTop, out var top)) is not null)
        {
            return Fail(error);
        }

        q = q with { Level = level ?? 1, Page = page ?? 1, MaxHops = maxHops ?? 3, Top = top ?? 10 };

        if ((error = Boolean(d, "summary", out var summary)) is not null ||
            (error = Boolean(d, "summary_graph", out var summaryGraph)) is not null ||
            (error = Boolean(d, "explain", out var explain)) is not null)
        {
            return Fail(error);
        }

        q = q with { Summary = summary ?? true, SummaryGraph = summaryGraph ?? false, Explain = explain ?? false };

        if (d["_hash"] is { } h)
        {
            if (h is not TahoeString { Value: var hs } || !HashPattern().IsMatch(hs))
            {
                return Fail($"'_hash' must be 64 hexadecimal digits, got {Describe(h)}");
            }

            q = q with { Hash = InstanceHash.Parse(hs) };
        }

        if (d["interval"] is { } iv)
        {
            if (iv is not TahoeString { Value: var ivs } || !Intervals.TryGetValue(ivs, out var seconds))
            {
                return Fail($"'interval' must be one of {string.Join(", ", Intervals.Keys)}, got {Describe(iv)}");
            }

            q = q with { Interval = ivs, IntervalSeconds = seconds };
        }

        if (d["decay"] is { } dv)
        {
            double? decay = dv switch
            {
                TahoeFloat f => f.Value,
                TahoeInt i when i.FitsInt64 => i.Int64,
                _ => null,
            };
            if (decay is not { } dd || !(dd >= 0.00001 && dd <= 1))
            {
                return Fail($"'decay' must be a number from 0.00001 to 1, got {Describe(dv)}");
            }

            q = q with { Decay = dd };
        }

        return PerType(q, d);
    }

    private static QueryValidation PerType(ReportQuery q, TahoeDict d)
    {
        switch (q.QType)
        {
            case QueryTypes.Count:
            case QueryTypes.Related:
                if (q.SubType is null)
                {
                    return Fail($"'sub_type' is required for a {q.QType} query (one of {string.Join(", ", SubTypes)})");
                }

                if (!d.ContainsKey("data"))
                {
                    return Fail($"'data' is required for a {q.QType} query: the attribute value to look up");
                }

                if (q.QType == QueryTypes.Related && q.IntervalSeconds is not null)
                {
                    return Fail("'interval' applies to count queries only");
                }

                break;
            case QueryTypes.ThreatRank:
                if (q.Hash is null && !q.HasTimeRange)
                {
                    return Fail("a threatrank query needs '_hash' (the event to rank) or a time range ('from'/'to' or 'last') to rank the events in it");
                }

                if (q.IntervalSeconds is not null)
                {
                    return Fail("'interval' applies to count queries only");
                }

                break;
        }

        return new QueryValidation(q, null);
    }

    private static QueryValidation Fail(string message) => new(null, message);

    private static string? OptionalString(TahoeDict d, string field, out string? value)
    {
        value = null;
        if (d[field] is not { } v)
        {
            return null;
        }

        if (v is not TahoeString s)
        {
            return $"'{field}' must be a string, got {Describe(v)}";
        }

        value = s.Value;
        return null;
    }

    private static string? Enum(TahoeDict d, string field, IReadOnlyList<string> allowed, out string? value)
    {
        value = null;
        if (d[field] is not { } v)
        {
            return null;
        }

        if (v is not TahoeString s || !allowed.Contains(s.Value))
        {
            return $"'{field}' must be one of {string.Join(", ", allowed)}, got {Describe(v)}";
        }

        value = s.Value;
        return null;
    }

    private static string? Integer(TahoeDict d, string field, int min, int max, out int? value)
    {
        value = null;
        if (d[field] is not { } v)
        {
            return null;
        }

        var range = max == int.MaxValue ? $"an integer of at least {min}" : $"an integer from {min} to {max}";
        if (v is not TahoeInt i || i.Value < min || i.Value > max)
        {
            return $"'{field}' must be {range}, got {Describe(v)}";
        }

        value = (int)i.Value;
        return null;
    }

    private static string? Boolean(TahoeDict d, string field, out bool? value)
    {
        value = null;
        if (d[field] is not { } v)
        {
            return null;
        }

        if (v is not TahoeBool b)
        {
            return $"'{field}' must be true or false, got {Describe(v)}";
        }

        value = b.Value;
        return null;
    }

    private static string Show(string s) => TahoeJsonWriter.Write(TahoeValue.String(s.Length > 80 ? s[..80] + "…" : s));

    /// <summary>A short rendering of a value for an error message.</summary>
    internal static string Describe(TahoeValue v)
    {
        var text = v switch
        {
            TahoeString s => Show(s.Value),
            TahoeFloat f => PythonText.FloatRepr(f.Value),
            _ => TahoeJsonWriter.Write(v),
        };
        return text.Length > 100 ? text[..100] + "…" : text;
    }

    [GeneratedRegex("^[A-Fa-f0-9]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex HashPattern();
}

/// <summary>The result of validation: the query, or the message saying what is wrong.</summary>
public sealed record QueryValidation(ReportQuery? Query, string? Error)
{
    /// <summary>True when the query is valid.</summary>
    public bool IsValid => Query is not null;
}
