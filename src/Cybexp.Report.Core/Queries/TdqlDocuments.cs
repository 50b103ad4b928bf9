using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Queries;

/// <summary>
/// Converts between our queue's queries and the original's stored TDQL object (<c>itype: object, sub_type: query</c>,
/// §1.7 of the original's shapes): qtype, qdata (the stored text, e.g. a Python bytes literal), qhash, userid,
/// timestamp, encrypted, status, report_id and the notification socket.
/// </summary>
public static class TdqlDocuments
{
    /// <summary>The queue submission a TDQL asks for; a socket with port 0 (the original's default) means no notification.</summary>
    public static QuerySubmission ToSubmission(TahoeQuery tdql)
    {
        ArgumentNullException.ThrowIfNull(tdql);
        var notify = tdql.Port is > 0 and <= 65535 ? new NotifySocket(tdql.Host, (int)tdql.Port, tdql.Nonce) : null;
        return new QuerySubmission(tdql.Qtype, tdql.Qdata, tdql.Encrypted, tdql.Userid, tdql.Qhash, notify);
    }

    /// <summary>
    /// The TDQL document of a stored query as the original would hold it: same <c>_hash</c> (hour bucket of the
    /// submission time), status, and <c>report_id</c> = the report's hash once it ended.
    /// </summary>
    public static TahoeQuery FromRecord(QueryRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var tdql = TahoeQuery.Create(
            record.QType,
            record.QData,
            record.QHash ?? string.Empty,
            record.UserId,
            record.SubmittedAt,
            record.Encrypted,
            record.Notify?.Host ?? "localhost",
            record.Notify?.Port ?? 0,
            record.Notify?.Nonce ?? string.Empty);
        tdql = tdql.WithStatus(record.Status);
        return record.ReportHash is { } report ? tdql.WithReportId(report) : tdql;
    }
}
