using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// An identity organisation: an object with sub_type <c>cybexp_org</c> whose children are the attributes orgname and
/// name, every user, and an <c>admin</c> object holding the admins. Members are in <c>_usr_ref</c>, admins in
/// <c>_adm_ref</c>, both in <c>_acl</c>; these three come first in the document. Unique text
/// <c>"objectcybexp_org" + orgname</c> (raw). The data embeds each member's data, password digest included.
/// </summary>
public sealed class TahoeOrg : TahoeComposite
{
    private TahoeOrg(
        string orgname,
        ComposedData composed,
        ImmutableArray<InstanceHash> users,
        ImmutableArray<InstanceHash> admins,
        ImmutableArray<TahoeInstance> descendants)
        : base("object", "cybexp_org", composed, string.Concat("objectcybexp_org", orgname))
    {
        Orgname = orgname;
        UsrRef = users;
        AdmRef = admins;
        Acl = InstanceRules.Sorted(users.Concat(admins));
        Descendants = descendants;
    }

    /// <summary>The organisation's short name.</summary>
    public string Orgname { get; }

    /// <summary><c>_usr_ref</c>: the members, sorted.</summary>
    public ImmutableArray<InstanceHash> UsrRef { get; }

    /// <summary><c>_adm_ref</c>: the admins, sorted.</summary>
    public ImmutableArray<InstanceHash> AdmRef { get; }

    /// <summary><c>_acl</c>: members and admins, sorted.</summary>
    public ImmutableArray<InstanceHash> Acl { get; }

    /// <summary>The instances created with the org that must be stored next to it: orgname, name and the admin object.</summary>
    public ImmutableArray<TahoeInstance> Descendants { get; }

    /// <summary>Builds an organisation; at least one user and one admin are required.</summary>
    public static TahoeOrg Create(string orgname, IEnumerable<TahoeUser> users, IEnumerable<TahoeUser> admins, string name = "")
    {
        InstanceRules.RequireString(orgname, "orgname");
        InstanceRules.RequireString(name, "name");
        var userList = Members(users, "users");
        var adminList = Members(admins, "admins");
        var orgnameAttr = TahoeAttribute.Create("orgname", orgname);
        var nameAttr = TahoeAttribute.Create("name", name);
        var admin = TahoeObject.Create("admin", adminList);
        var children = new List<TahoeInstance> { orgnameAttr, nameAttr };
        children.AddRange(userList);
        children.Add(admin);
        return new TahoeOrg(
            orgname,
            Composition.Compose(CollectionsMarshal.AsSpan(children), UniquePrefix.None, childForm: true),
            InstanceRules.Sorted(userList.Select(u => u.Hash)),
            InstanceRules.Sorted(adminList.Select(u => u.Hash)),
            [orgnameAttr, nameAttr, admin]);
    }

    internal static TahoeOrg Restore(
        string orgname,
        TahoeDict data,
        ImmutableArray<InstanceHash> cref,
        ImmutableArray<InstanceHash> refs,
        ImmutableArray<InstanceHash> users,
        ImmutableArray<InstanceHash> admins) =>
        new(orgname, ComposedData.Restored(data, UniquePrefix.None, childForm: true, cref, refs), users, admins, []);

    private static TahoeInstance[] Members(IEnumerable<TahoeUser> users, string field)
    {
        if (users is null)
        {
            throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must be a list of users, got None");
        }

        var list = Composition.Children(users, field);
        return list;
    }

    private protected override TahoeDict BuildDocument() =>
        TahoeDict.From(
        [
            Entry("_usr_ref", UsrRef), Entry("_adm_ref", AdmRef), Entry("_acl", Acl), Entry("itype", Itype), Entry("data", Data),
            Entry("_cref", Cref), Entry("_ref", Ref), Entry("sub_type", SubType), Entry("_hash", Hash.Value),
        ]);
}
