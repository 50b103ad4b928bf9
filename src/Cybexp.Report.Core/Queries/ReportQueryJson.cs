using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Queries;

/// <summary>The normalised query data of a validated query: every field that applies to its type, defaults filled in.</summary>
public static class ReportQueryJson
{
    /// <summary>The fields of <paramref name="q"/> as query data (JSON object).</summary>
    public static TahoeDict ToQdata(ReportQuery q)
    {
        var e = new List<KeyValuePair<string, TahoeValue>>();
        void Add(string key, TahoeValue value) => e.Add(new(key, value));
        if (q.SubType is not null)
        {
            Add("sub_type", TahoeValue.String(q.SubType));
            Add("data", q.Data ?? TahoeValue.Null);
        }

        foreach (var (key, value) in new[] { ("from", q.From), ("to", q.To), ("last", q.Last), ("tzname", q.TzName) })
        {
            if (value is not null)
            {
                Add(key, TahoeValue.String(value));
            }
        }

        if (q.QType != QueryTypes.ThreatRank)
        {
            Add("category", TahoeValue.String(q.Category ?? "all"));
            Add("context", TahoeValue.String(q.Context switch
            {
                EventContext.Benign => "benign",
                EventContext.Malicious => "malicious",
                EventContext.Unknown => "unknown",
                _ => "all",
            }));
        }

        switch (q.QType)
        {
            case QueryTypes.Count when q.Interval is not null:
                Add("interval", TahoeValue.String(q.Interval));
                break;
            case QueryTypes.Related:
                Add("level", TahoeValue.Int(q.Level));
                Add("page", TahoeValue.Int(q.Page));
                Add("summary", TahoeValue.Bool(q.Summary));
                Add("summary_graph", TahoeValue.Bool(q.SummaryGraph));
                Add("return_type", TahoeValue.String(q.ReturnType));
                break;
            case QueryTypes.ThreatRank:
                if (q.Hash is { } h)
                {
                    Add("_hash", TahoeValue.String(h.Value));
                    Add("explain", TahoeValue.Bool(q.Explain));
                }
                else
                {
                    Add("top", TahoeValue.Int(q.Top));
                }

                Add("decay", TahoeValue.Float(q.Decay));
                Add("max_hops", TahoeValue.Int(q.MaxHops));
                break;
        }

        return TahoeDict.From(e);
    }
}
