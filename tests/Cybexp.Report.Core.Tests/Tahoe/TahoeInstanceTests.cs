using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

public class TahoeInstanceTests
{
    private const string Qhash = "db369e7e1493485631e81e6671a0002d262488069bc186fc973c7221306f0067";
    private const string User1 = "623dd0070664fea4f77d7b6c9f108b5370cbae6b2b6c83dc5279a750be3609b0";
    private const string Qdata = "b'{\"data\": \"\\\\\"1.1.1.1\\\\\"\", \"sub_type\": \"\\\\\"ipv4\\\\\"\"}'";

    [Theory]
    [InlineData("ipv4")]
    [InlineData("_private")]
    [InlineData("class")]
    [InlineData("file_hash2")]
    [InlineData("café")]
    [InlineData("e\u0301t\u00e9")]
    [InlineData("ＡＢ")]
    [InlineData("日本")]
    public void IsIdentifier_AcceptsPythonIdentifiers(string text) => Assert.True(InstanceRules.IsIdentifier(text));

    [Theory]
    [InlineData("")]
    [InlineData("1abc")]
    [InlineData("with space")]
    [InlineData("with-dash")]
    [InlineData("\u0301x")]
    [InlineData("a.b")]
    [InlineData("x\ud800")]
    [InlineData("😀")]
    public void IsIdentifier_RejectsEverythingElse(string text) => Assert.False(InstanceRules.IsIdentifier(text));

    [Fact]
    public void Attribute_WithBadSubType_NamesTheFieldAndGivesExamples()
    {
        var e = Assert.Throws<TahoeException>(() => TahoeAttribute.Create("1abc", "x"));
        Assert.Equal(TahoeErrorKind.ValueError, e.Kind);
        Assert.Equal("sub_type", e.Field);
        Assert.Equal("'sub_type' must be a Python identifier such as ipv4 or file_hash, got '1abc'", e.Message);
    }

    [Theory]
    [InlineData("report_id", "", "335e495ae6c2e8c5269e9d91964f46c30c3221784af4d9e65e2cfb07e9b94879")]
    [InlineData("status", "wait", "64d6f946a875d0fc05774ef1e1fe4eaa4b2f1700c71df9a1bb33b0c0cfcbad89")]
    [InlineData("status", "processing", "4a9eec97c6a09f458270506f254ae72982eb43c46518e3ed15b9bafaac3b0628")]
    [InlineData("status", "ready", "1fd967f33b0ea9ddaedadc6b17e41cf8c7bbf3812402fbb981f44f69a85e8166")]
    [InlineData("status", "failed", "68d16ae3708af7281a0341bcde0c093f29b9ff39045ba39524f0992ebd2f619a")]
    [InlineData("status", "invalid", "e6f5a4dbb93847ab968af1e0121827c63d72818567bb53197e17923931c58cd4")]
    public void Attribute_HashesAsTheSpecSays(string subType, string data, string hash) =>
        Assert.Equal(hash, TahoeAttribute.Create(subType, data).Hash.Value);

    [Fact]
    public void Attribute_BoolEncrypted_HashesAsTheSpecSays() =>
        Assert.Equal(
            "98167ff07998eff30cacc3af38c51bd0b745fdbda1c6b415983185d9fc2dd0ed",
            TahoeAttribute.Create("encrypted", TahoeValue.True).Hash.Value);

    [Fact]
    public void Object_DocstringExample_Hashes()
    {
        var o = TahoeObject.Create("obj_type", TahoeAttribute.Create("att_type", "value"));
        Assert.Equal("a730521ee3b1f3665f25634de1421942d52119b58bf68498cd2beba8d73925be", o.Hash.Value);
        Assert.Equal("itype,data,_cref,_ref,sub_type,_hash", VectorValues.Keys(o.Document));
    }

    [Fact]
    public void Object_SameChildTwice_CountsOnce_ButEqualChildrenBothCount()
    {
        var a = TahoeAttribute.Create("ipv4", "1.1.1.1");
        var b = TahoeAttribute.Create("ipv4", "1.1.1.1");
        Assert.Single(TahoeObject.Create("ips", a, a).DataDict["ipv4"]!.AsList.Items);
        Assert.Equal(2, TahoeObject.Create("ips", a, b).DataDict["ipv4"]!.AsList.Count);
        Assert.Equal(TahoeObject.Create("ips", a, a).Hash, TahoeObject.Create("ips", a, b).Hash);
    }

    [Fact]
    public void Object_WithAnEventChild_IsATypeError()
    {
        var a = TahoeAttribute.Create("x", "y");
        var e = TahoeEvent.Create("ev", [a], "org", 1.0);
        Assert.Equal(TahoeErrorKind.TypeError, Assert.Throws<TahoeException>(() => TahoeObject.Create("bad", e)).Kind);
    }

    [Fact]
    public void Object_Edit_RejectsAddingAChildAndRemovingAStranger()
    {
        var a1 = TahoeAttribute.Create("filename", "a.exe");
        var a2 = TahoeAttribute.Create("filesize", TahoeValue.Int(10));
        var o = TahoeObject.Create("file", a1);
        Assert.Equal(TahoeErrorKind.ValueError, Assert.Throws<TahoeException>(() => o.AddInstance([a1], [a1])).Kind);
        Assert.Equal(TahoeErrorKind.ValueError, Assert.Throws<TahoeException>(() => o.RemoveInstance([a2], [a1])).Kind);
        var grown = o.AddInstance([a2], [a1]);
        Assert.Equal(TahoeObject.Create("file", a1, a2).Hash, grown.Hash);
        Assert.Equal(o.Hash, grown.RemoveInstance([a2], [a1, a2]).Hash);
    }

    [Fact]
    public void Event_TimestampFromIntOrBool_IsAFloat_ButAStringIsATypeError()
    {
        var a = TahoeAttribute.Create("x", "y");
        Assert.Equal(100.0, TahoeEvent.Create("ev", [a], TahoeValue.String("org"), TahoeValue.Int(100)).Timestamp);
        Assert.Equal(1.0, TahoeEvent.Create("ev", [a], TahoeValue.String("org"), TahoeValue.True).Timestamp);
        var e = Assert.Throws<TahoeException>(() => TahoeEvent.Create("ev", [a], TahoeValue.String("org"), TahoeValue.String("100")));
        Assert.Equal(TahoeErrorKind.TypeError, e.Kind);
        Assert.Equal("timestamp", e.Field);
    }

    [Fact]
    public void Event_Contexts_FollowTheOriginalRules()
    {
        var a1 = TahoeAttribute.Create("filename", "virus.exe");
        var a3 = TahoeAttribute.Create("filesize", TahoeValue.Int(1024));
        var a2 = TahoeAttribute.Create("ipv4", "1.1.1.1");
        var stranger = TahoeAttribute.Create("x", "y");
        var o = TahoeObject.Create("file", a1, a3);
        var e = TahoeEvent.Create("file_download", [o, a2], "org", 100);

        var both = Assert.Throws<TahoeException>(() => TahoeEvent.Create("file_download", [o, a2], "org", 100, [a1], [a1]));
        Assert.Equal(TahoeErrorKind.ValueError, both.Kind);
        Assert.Equal(TahoeErrorKind.ValueError, Assert.Throws<TahoeException>(() => e.SetContext(([stranger], "malicious"))).Kind);
        Assert.Equal(TahoeErrorKind.ValueError, Assert.Throws<TahoeException>(() => e.SetContext(([a1], "evil"))).Kind);
        Assert.Equal(TahoeErrorKind.ValueError, Assert.Throws<TahoeException>(() => e.SetContext(([a1], "benign"), ([a2], "benign"))).Kind);

        // A grandchild may be given a context; only its own hash is recorded.
        var marked = e.SetContext(([a1], "malicious"), ([a2], "benign"));
        Assert.Equal([a1.Hash], marked.MalRef.ToArray());
        Assert.Equal([a2.Hash], marked.BenRef.ToArray());
        Assert.Equal(e.Hash, marked.Hash);

        var flipped = marked.SetContext(([a1], "benign"), ([a2], "unknown"));
        Assert.Equal([a1.Hash], flipped.BenRef.ToArray());
        Assert.Empty(flipped.MalRef);

        var category = flipped.SetCategory("malicious");
        Assert.Equal("malicious", category.Category);
        Assert.Equal(e.Hash, category.Hash);
        Assert.Equal(TahoeErrorKind.ValueError, Assert.Throws<TahoeException>(() => e.SetCategory("evil")).Kind);
    }

    [Fact]
    public void Session_HoldsItsEventsInRef_AndKeepsItsHash()
    {
        var s = TahoeSession.Create("cowrie", new Guid("0f8fad5b-d9cb-469f-a165-70867728950e"));
        Assert.Equal("[\"0f8fad5b-d9cb-469f-a165-70867728950e\"]", s.DataDict["sessionid"]!.ToString());
        var a = TahoeAttribute.Create("ipv4", "1.1.1.1");
        var e1 = TahoeEvent.Create("login", [a], "org", 100);
        var e2 = TahoeEvent.Create("login", [a], "org", 200);
        var withEvents = s.AddEvent([e1, e2]);
        Assert.Equal(s.Hash, withEvents.Hash);
        Assert.Contains(e1.Hash, withEvents.Ref);
        Assert.Equal([e2.Hash], withEvents.RemoveEvent([e1]).Events.ToArray());
        Assert.Equal(TahoeErrorKind.TypeError, Assert.Throws<TahoeException>(() => s.AddEvent([a])).Kind);

        var read = Assert.IsType<TahoeSession>(TahoeInstance.FromDocument(withEvents.Document).Value);
        Assert.Equal<InstanceHash>(withEvents.Events, read.Events);
    }

    [Fact]
    public void Query_HashesByHourBucket_AndStartsInvalid()
    {
        var q = TahoeQuery.Create("count", Qdata, Qhash, User1, 1627580000.5, encrypted: true);
        Assert.Equal("objectquerycount" + Qhash + User1 + "452105", q.Unique);
        Assert.Equal("e8d06955974c343824e6291956c73da1ab9da43d28779a63f7348e04cce595a6", q.Hash.Value);
        Assert.Equal("invalid", q.Status);
        Assert.Contains(InstanceHash.Parse("af26f3b17f9fa6cf67667565f895735a9a90ec5f2c3ceff8bbcab225a92d3441"), q.Cref);
        Assert.Equal(9, q.Cref.Length);
        Assert.Equal(12, q.Ref.Length);
        Assert.Equal(12, q.Descendants.Length);
        Assert.Equal(q.Hash, TahoeQuery.Create("count", "other", Qhash, User1, 1627581599.9).Hash);
        Assert.NotEqual(q.Hash, TahoeQuery.Create("count", Qdata, Qhash, User1, 1627581600.0).Hash);
    }

    [Fact]
    public void Query_Edits_SwapTheChildHashes_AndKeepTheHash()
    {
        var q = TahoeQuery.Create("count", Qdata, Qhash, User1, 1627580000.5);
        var wait = InstanceHash.Parse("64d6f946a875d0fc05774ef1e1fe4eaa4b2f1700c71df9a1bb33b0c0cfcbad89");
        var invalid = InstanceHash.Parse("e6f5a4dbb93847ab968af1e0121827c63d72818567bb53197e17923931c58cd4");

        var waiting = q.WithStatus("wait");
        Assert.Equal(q.Hash, waiting.Hash);
        Assert.Contains(wait, waiting.Cref);
        Assert.DoesNotContain(invalid, waiting.Cref);
        Assert.DoesNotContain(invalid, waiting.Ref);
        Assert.Contains(waiting.Descendants, d => d.Hash == wait);
        Assert.Equal(TahoeErrorKind.ValueError, Assert.Throws<TahoeException>(() => q.WithStatus("invalid")).Kind);

        var socket = waiting.WithSocket("0.0.0.0", 40123, "00112233445566778899aabbccddeeff");
        Assert.Equal(q.Hash, socket.Hash);
        var newSocket = socket.Descendants.Single(d => d.SubType == "socket");
        Assert.Contains(newSocket.Hash, socket.Cref);
        Assert.Contains(TahoeAttribute.Create("port", TahoeValue.Int(40123)).Hash, socket.Ref);
        Assert.DoesNotContain(TahoeAttribute.Create("port", TahoeValue.Int(0)).Hash, socket.Ref);

        var done = socket.WithStatus("ready").WithReportId("f0783fa9d9aa0649055f6fc29f93a80a48d0c70707c193da5f78e5770a89f9fe");
        var read = Assert.IsType<TahoeQuery>(TahoeInstance.FromDocument(done.Document).Value);
        Assert.Equal("ready", read.Status);
        Assert.Equal(done.ReportId, read.ReportId);
        Assert.Equal(40123, read.Port);
        Assert.Equal(done.Document, read.Document);
    }

    [Theory]
    [InlineData("1", "f0783fa9d9aa0649055f6fc29f93a80a48d0c70707c193da5f78e5770a89f9fe")]
    [InlineData("0", "651bbb6c107ed3fda09eb34eeb541a190aa2518df18769744534ae3d7d9395c7")]
    public void Report_HashesItsPayloadOnly(string payload, string hash)
    {
        var r = TahoeReport.Create("count", User1, 1627580001.2, PythonJson.Parse(payload), 1, 1);
        Assert.Equal(hash, r.Hash.Value);
        Assert.Equal(r.Hash, TahoeReport.Create("count", "someone else", 1.0, PythonJson.Parse(payload), 2, 3).Hash);
        Assert.Equal("itype,userid,timestamp,current_page,next_page,data,sub_type,_hash", VectorValues.Keys(r.Document));
    }

    [Fact]
    public void UserAndOrg_HashAsTheSpecSays_AndOrgEmbedsMemberData()
    {
        var u = TahoeUser.Create("user1@example.com", "pw");
        Assert.Equal(User1, u.Hash.Value);
        var admin = TahoeUser.Create("admin@example.com", "secret", "Admin");
        var org = TahoeOrg.Create("org1", [u, admin], [admin], "Org One");
        Assert.Equal("7496bc367d38f529e066604595f3907a393501d07cc0ab1b4eaa3caa08161135", org.Hash.Value);
        Assert.Equal("_usr_ref,_adm_ref,_acl,itype,data,_cref,_ref,sub_type,_hash", VectorValues.Keys(org.Document));
        Assert.Equal([admin.Hash], org.AdmRef.ToArray());
        Assert.Equal<InstanceHash>(InstanceRules.Sorted([u.Hash, admin.Hash]), org.UsrRef);
        Assert.Equal<InstanceHash>(org.UsrRef, org.Acl);
        Assert.Equal(2, org.DataDict["cybexp_user"]!.AsList.Count);
        var adminData = Assert.IsType<TahoeDict>(Assert.Single(org.DataDict["admin"]!.AsList.Items));
        Assert.Equal(admin.Data, Assert.Single(adminData["cybexp_user"]!.AsList.Items));
        Assert.Contains(admin.Hash, org.Ref);

        var read = Assert.IsType<TahoeOrg>(TahoeInstance.FromDocument(org.Document).Value);
        Assert.Equal(org.Document, read.Document);
        Assert.IsType<TahoeUser>(TahoeInstance.FromDocument(u.Document).Value);
    }

    [Fact]
    public void FromDocument_ReportsTheFieldAtFault()
    {
        var a = TahoeAttribute.Create("ipv4", "1.1.1.1");
        var e = TahoeEvent.Create("login", [a], "org", 100);

        var tampered = TahoeInstance.FromDocument(a.Document.With("data", TahoeValue.String("2.2.2.2")));
        Assert.False(tampered.Ok);
        Assert.Equal("_hash", tampered.Field);

        var noHash = TahoeInstance.FromDocument(a.Document.Without("_hash"));
        Assert.Equal("_hash", noHash.Field);

        var badRef = TahoeInstance.FromDocument(e.Document.With("_ref", TahoeValue.List(TahoeValue.String("nope"))));
        Assert.Equal("_ref", badRef.Field);

        var badCategory = TahoeInstance.FromDocument(e.Document.With("category", TahoeValue.String("evil")));
        Assert.Equal("category", badCategory.Field);

        var badItype = TahoeInstance.FromDocument(a.Document.With("itype", TahoeValue.String("thing")));
        Assert.Equal("itype", badItype.Field);

        var badData = TahoeInstance.FromDocument(e.Document.With("data", TahoeValue.Int(1)));
        Assert.Equal("data", badData.Field);
        Assert.Throws<FormatException>(() => badData.Value);

        Assert.Equal(e.Document, TahoeInstance.FromDocument(e.Document).Value.Document);
    }

    [Fact]
    public void Raw_AddRef_KeepsTheHash_AndAddsTheField()
    {
        var r = TahoeRaw.CreateFromJson("misp", "{\"a\": 2}", "org");
        Assert.Null(r.Ref);
        Assert.False(r.Document.ContainsKey("_ref"));
        var withRefs = r.AddRef(["h2", "h1", "h1"]);
        Assert.Equal(r.Hash, withRefs.Hash);
        Assert.Equal(["h1", "h2"], withRefs.Ref!.Value.ToArray());
        Assert.Equal(TahoeErrorKind.ValueError, Assert.Throws<TahoeException>(() => TahoeRaw.CreateFromJson("misp", "{", "org")).Kind);
    }
}
