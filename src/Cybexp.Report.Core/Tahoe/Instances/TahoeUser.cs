using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// An identity user: an object with sub_type <c>cybexp_user</c> (or <c>cybexp_superuser</c>) made of the attributes
/// email_addr, password (unsalted SHA-256 hex, as the original stores it) and name. Unique text
/// <c>"object" + sub_type + email</c> with the raw email (not canonicalised, not stripped).
/// </summary>
public sealed class TahoeUser : TahoeComposite
{
    private TahoeUser(string subType, string email, ComposedData composed, ImmutableArray<TahoeInstance> descendants)
        : base("object", subType, composed, string.Concat("object", subType, email))
    {
        Email = email;
        Descendants = descendants;
    }

    /// <summary>The email address, as given.</summary>
    public string Email { get; }

    /// <summary>True for <c>cybexp_superuser</c>.</summary>
    public bool IsSuperuser => SubType == "cybexp_superuser";

    /// <summary>The attribute instances that must be stored next to the user (email_addr, password, name).</summary>
    public ImmutableArray<TahoeInstance> Descendants { get; }

    /// <summary>Builds a user; the password is stored as its SHA-256 hex digest.</summary>
    public static TahoeUser Create(string email, string password, string name = "", bool superuser = false)
    {
        InstanceRules.RequireString(email, "email");
        InstanceRules.RequireString(password, "password");
        InstanceRules.RequireString(name, "name");
        byte[] bytes;
        try
        {
            bytes = InstanceHash.StrictUtf8.GetBytes(password);
        }
        catch (EncoderFallbackException e)
        {
            throw new TahoeException(TahoeErrorKind.ValueError, "password", "'password' cannot be encoded as UTF-8", e);
        }

        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return Build(superuser ? "cybexp_superuser" : "cybexp_user", email, digest, name);
    }

    internal static TahoeUser Restore(string subType, string email, string passwordDigest, string name) =>
        Build(subType, email, passwordDigest, name);

    private static TahoeUser Build(string subType, string email, string passwordDigest, string name)
    {
        TahoeInstance[] children =
        [
            TahoeAttribute.Create("email_addr", email),
            TahoeAttribute.Create("password", passwordDigest),
            TahoeAttribute.Create("name", name),
        ];
        return new TahoeUser(subType, email, Composition.Compose(children, UniquePrefix.None, childForm: true), [.. children]);
    }

    private protected override TahoeDict BuildDocument() =>
        TahoeDict.From(
        [
            Entry("itype", Itype), Entry("data", Data), Entry("_cref", Cref), Entry("_ref", Ref), Entry("sub_type", SubType),
            Entry("_hash", Hash.Value),
        ]);
}
