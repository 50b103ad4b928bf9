using System.Text.Json;
using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Hosting;
using static Cybexp.Report.Cli.Tests.CliRunner;

namespace Cybexp.Report.Cli.Tests;

/// <summary>
/// The identity commands end to end against one store. The store is given by a spec, so the same scenario runs
/// against SQLite here and against PostgreSQL in <see cref="PostgresIngestTests"/>.
/// </summary>
public sealed class IdentityCommandsTests : IDisposable
{
    /// <summary>The original's hash of user1@example.com (sha256("object" + "cybexp_user" + email)).</summary>
    public const string User1Hash = "623dd0070664fea4f77d7b6c9f108b5370cbae6b2b6c83dc5279a750be3609b0";

    /// <summary>The original's hash of org1 (sha256("objectcybexp_org" + "org1")).</summary>
    public const string Org1Hash = "7496bc367d38f529e066604595f3907a393501d07cc0ab1b4eaa3caa08161135";

    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-identity-").FullName;

    private static CancellationToken Ct => new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token;

    private string Store => "sqlite:" + Path.Combine(_dir, "store.db");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public Task UsersAndOrgs_EndToEnd_OnSqlite() => ScenarioAsync(Store);

    /// <summary>Adds users and an org, adds a member, lists both, and checks the stored documents.</summary>
    internal static async Task ScenarioAsync(string store)
    {
        var user1 = await RunAsync("user", "add", "--store", store, "--email", "user1@example.com", "--name", "User One", "--password", "pw1");
        Assert.Equal((0, User1Hash), (user1.Code, user1.Out.Trim()));
        var user2 = await RunWithStdinAsync("pw2\n", "user", "add", "--store", store, "--email", "user2@example.com", "--name", "User Two", "--password-file", "-");
        Assert.Equal(0, user2.Code);
        var user2Hash = user2.Out.Trim();
        Assert.Equal(TahoeUser.Create("user2@example.com", "pw2", "User Two").Hash.Value, user2Hash);

        var org = await RunAsync("org", "add", "--store", store, "--name", "org1", "--full-name", "Org One", "--admin", "user1@example.com");
        Assert.Equal((0, Org1Hash), (org.Code, org.Out.Trim()));

        var again = await RunAsync("org", "add", "--store", store, "--name", "org1", "--admin", User1Hash);
        Assert.Equal(1, again.Code);
        Assert.Contains("exists already", again.Err, StringComparison.Ordinal);

        var member = await RunAsync("org", "add-member", "--store", store, "org1", user2Hash);
        Assert.Equal((0, "added user2@example.com to org1"), (member.Code, member.Out.Trim()));
        var twice = await RunAsync("org", "add-member", "--store", store, Org1Hash, "user2@example.com");
        Assert.Equal((0, "user2@example.com is already a member of org1"), (twice.Code, twice.Out.Trim()));

        var users = await RunAsync("user", "list", "--store", store, "--json");
        Assert.Equal(0, users.Code);
        var userList = JsonDocument.Parse(users.Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(["user1@example.com", "user2@example.com"], userList.Select(u => u.GetProperty("email").GetString()));
        Assert.Equal([User1Hash, user2Hash], userList.Select(u => u.GetProperty("_hash").GetString()));
        Assert.All(userList, u => Assert.Equal("cybexp_user", u.GetProperty("sub_type").GetString()));

        var orgs = await RunAsync("org", "list", "--store", store, "--json");
        var only = Assert.Single(JsonDocument.Parse(orgs.Out).RootElement.EnumerateArray().ToList());
        Assert.Equal(Org1Hash, only.GetProperty("_hash").GetString());
        Assert.Equal("Org One", only.GetProperty("name").GetString());
        Assert.Equal(new[] { User1Hash, user2Hash }.Order(StringComparer.Ordinal), only.GetProperty("users").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal([User1Hash], only.GetProperty("admins").EnumerateArray().Select(e => e.GetString()));

        var text = await RunAsync("org", "list", "--store", store);
        Assert.Equal([$"{Org1Hash}  org1  Org One  members: user1@example.com, user2@example.com  admins: user1@example.com"], Lines(text.Out));

        await using var opened = await StoreLocator.OpenAsync(store, TimeProvider.System, Ct);
        var visibility = await opened.Identity.VisibilityOfAsync(InstanceHash.Parse(user2Hash), Ct);
        Assert.Equal(new[] { Org1Hash }, visibility.OrgIds.ToArray());
        var orgDoc = await opened.Identity.GetIdentityDocumentAsync(InstanceHash.Parse(Org1Hash), Ct);
        Assert.NotNull(orgDoc);
        Assert.Empty(DocumentVerifier.Verify(orgDoc!));
        Assert.Equal(new[] { User1Hash, user2Hash }.Order(StringComparer.Ordinal), orgDoc!["_acl"]!.AsList.Items.Select(i => i.AsString));

        // Every descendant the instance types expose is stored too: no dangling children of the org or the users.
        var descendants = orgDoc["_ref"]!.AsList.Items.Select(i => InstanceHash.Parse(i.AsString)).ToList();
        Assert.Equal(descendants.Count, (await opened.Archive.GetDocumentsAsync(descendants, Ct)).Count);
    }

    [Fact]
    public async Task UnknownUserOrOrg_ExitsOne_WithAClearMessage()
    {
        Assert.Equal(0, (await RunAsync("user", "add", "--store", Store, "--email", "a@example.com", "--name", "A", "--password", "p")).Code);

        var unknownAdmin = await RunAsync("org", "add", "--store", Store, "--name", "org9", "--admin", "nobody@example.com");
        var unknownOrg = await RunAsync("org", "add-member", "--store", Store, "org9", "a@example.com");
        var unknownUser = await RunAsync("org", "add-member", "--store", Store, "org9", "nobody@example.com");

        Assert.Equal((1, "error: unknown user 'nobody@example.com' (give a user _hash or e-mail; see 'user list')"), (unknownAdmin.Code, unknownAdmin.Err.Trim()));
        Assert.Equal((1, "error: unknown org 'org9' (give an org _hash or orgname; see 'org list')"), (unknownOrg.Code, unknownOrg.Err.Trim()));
        Assert.Equal(1, unknownUser.Code);
        var orgs = await RunAsync("org", "list", "--store", Store, "--json");
        Assert.Equal("[]", orgs.Out.Trim());
    }

    [Fact]
    public async Task UserAdd_WithoutPassword_OrWithBoth_ExitsOne()
    {
        var none = await RunAsync("user", "add", "--store", Store, "--email", "a@example.com", "--name", "A");
        var both = await RunAsync("user", "add", "--store", Store, "--email", "a@example.com", "--name", "A", "--password", "p", "--password-file", "-");

        Assert.Equal((1, "error: a password is required: give --password P or --password-file FILE"), (none.Code, none.Err.Trim()));
        Assert.Equal((1, "error: give --password or --password-file, not both"), (both.Code, both.Err.Trim()));
    }

    [Fact]
    public async Task UserAdd_Superuser_HashesWithItsSubType_AndStoresThePasswordDigest()
    {
        var (code, stdout, _) = await RunAsync("user", "add", "--store", Store, "--email", "root@example.com", "--name", "Root", "--password", "secret", "--superuser");

        Assert.Equal(0, code);
        var hash = stdout.Trim();
        Assert.Equal(InstanceHash.Of("objectcybexp_superuserroot@example.com").Value, hash);
        await using var opened = await StoreLocator.OpenAsync(Store, TimeProvider.System, Ct);
        var doc = await opened.Identity.GetIdentityDocumentAsync(InstanceHash.Parse(hash), Ct);
        Assert.Equal(
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",
            doc!["data"]!.AsDict["password"]!.AsList[0].AsString);
        Assert.Equal("cybexp_superuser", (await opened.Identity.FindUserAsync("root@example.com", Ct))!.SubType);
    }
}
