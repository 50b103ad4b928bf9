using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>Reads the typed values and expected documents of hash.json, and compares documents as the format key says.</summary>
internal static class VectorValues
{
    private static readonly HashSet<string> HashSetFields = ["_cref", "_ref", "_ben_ref", "_mal_ref", "_usr_ref", "_adm_ref", "_acl"];

    /// <summary>A typed value <c>{t, v}</c> as the Python value it stands for.</summary>
    public static TahoeValue Typed(JsonElement tv)
    {
        var t = tv.GetProperty("t").GetString();
        switch (t)
        {
            case "str":
                if (tv.TryGetProperty("v_codepoints", out var cps))
                {
                    var sb = new StringBuilder();
                    foreach (var cp in cps.EnumerateArray())
                    {
                        var c = cp.GetInt32();
                        if (c is >= 0xD800 and <= 0xDFFF)
                        {
                            sb.Append((char)c);
                        }
                        else
                        {
                            sb.Append(char.ConvertFromUtf32(c));
                        }
                    }

                    return TahoeValue.String(sb.ToString());
                }

                return TahoeValue.String(tv.GetProperty("v").GetString()!);
            case "int":
                return TahoeValue.Int(BigInteger.Parse(tv.GetProperty("v").GetRawText(), CultureInfo.InvariantCulture));
            case "float":
                return TahoeValue.Float(tv.GetProperty("repr").GetString() switch
                {
                    "nan" => double.NaN,
                    "inf" => double.PositiveInfinity,
                    "-inf" => double.NegativeInfinity,
                    var r => double.Parse(r!, NumberStyles.Float, CultureInfo.InvariantCulture),
                });
            case "bool":
                return TahoeValue.Bool(tv.GetProperty("v").GetBoolean());
            case "null":
                return TahoeValue.Null;
            case "list":
                return TahoeValue.List(tv.GetProperty("v").EnumerateArray().Select(Typed));
            case "dict":
                return TahoeValue.Dict(tv.GetProperty("v").EnumerateObject().Select(p => new KeyValuePair<string, TahoeValue>(p.Name, Typed(p.Value))));
            default:
                throw new InvalidOperationException($"unknown typed value {t}");
        }
    }

    /// <summary>An expected document: Python JSON with <c>{"$nonfinite": ...}</c> turned back into floats.</summary>
    public static TahoeDict Doc(JsonElement element) => (TahoeDict)Plain(PythonJson.Parse(element.GetRawText(), DuplicateKeys.LastWins));

    /// <summary>
    /// A document normalised for comparison: hash-list fields sorted; inside the data of an object, event or session
    /// every list sorted by the canonical text of its elements (the original's order there is arbitrary).
    /// </summary>
    public static TahoeDict Normalise(TahoeDict doc)
    {
        var itype = doc["itype"] is TahoeString s ? s.Value : string.Empty;
        var composite = itype is "object" or "event" or "session";
        return TahoeDict.From(doc.Entries.Select(e =>
        {
            if (HashSetFields.Contains(e.Key) && e.Value is TahoeList l)
            {
                return new KeyValuePair<string, TahoeValue>(e.Key, TahoeValue.List(l.Items.OrderBy(i => i.AsString, StringComparer.Ordinal)));
            }

            if (e.Key == "data" && composite)
            {
                return new KeyValuePair<string, TahoeValue>(e.Key, SortLists(e.Value));
            }

            return e;
        }));
    }

    /// <summary>Key order of a document, for the order check.</summary>
    public static string Keys(TahoeDict doc) => string.Join(",", doc.Entries.Select(e => e.Key));

    private static TahoeValue SortLists(TahoeValue value) => value switch
    {
        TahoeDict d => TahoeDict.From(d.Entries.Select(e => new KeyValuePair<string, TahoeValue>(e.Key, SortLists(e.Value)))),
        TahoeList l => TahoeValue.List(l.Items.Select(SortLists).OrderBy(Canonical.Of, StringComparer.Ordinal)),
        _ => value,
    };

    private static TahoeValue Plain(TahoeValue value) => value switch
    {
        TahoeDict d when d.Count == 1 && d.Entries[0].Key == "$nonfinite" => TahoeValue.Float(d.Entries[0].Value.AsString switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            var other => throw new InvalidOperationException($"unknown non-finite {other}"),
        }),
        TahoeDict d => TahoeDict.From(d.Entries.Select(e => new KeyValuePair<string, TahoeValue>(e.Key, Plain(e.Value)))),
        TahoeList l => TahoeValue.List(l.Items.Select(Plain)),
        _ => value,
    };
}
