using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Storage;

/// <summary>Reads users and orgs out of CYBEX-P identity documents (§1.8 of the original's shapes).</summary>
public static class IdentityDocuments
{
    /// <summary>The user in a <c>cybexp_user</c>/<c>cybexp_superuser</c> document.</summary>
    public static UserRecord User(ArchiveDocument doc) =>
        new(doc.Hash, First(doc.Document, "email_addr"), First(doc.Document, "name"), doc.SubType);

    /// <summary>The org in a <c>cybexp_org</c> document; members from <c>_usr_ref</c>, admins from <c>_adm_ref</c>.</summary>
    public static OrgRecord Org(ArchiveDocument doc) =>
        new(doc.Hash, First(doc.Document, "orgname"), First(doc.Document, "name"), doc.EdgeList("_usr_ref"), doc.EdgeList("_adm_ref"));

    private static string First(TahoeDict doc, string key) =>
        doc["data"] is TahoeDict data && data[key] is TahoeList { Count: > 0 } l && l[0] is TahoeString s ? s.Value : string.Empty;
}
