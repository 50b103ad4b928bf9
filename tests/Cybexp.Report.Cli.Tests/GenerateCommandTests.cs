using System.Text.Json;
using Cybexp.Report.Core.Tahoe;
using Cybexp.Report.Service.Generation;
using static Cybexp.Report.Cli.Tests.CliRunner;

namespace Cybexp.Report.Cli.Tests;

public sealed class GenerateCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cybexp-generate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<string> GenerateAsync(string name, params string[] options)
    {
        var path = Path.Combine(_dir, name);
        var (code, _, stderr) = await RunAsync(["generate", "--out", path, .. options]);
        Assert.True(code == 0, stderr);
        return path;
    }

    [Fact]
    public async Task Generate_SameSeed_GivesTheSameBytes_AndAnotherSeedOtherBytes()
    {
        var a = await GenerateAsync("a.ndjson", "--events", "400", "--seed", "7");
        var b = await GenerateAsync("b.ndjson", "--events", "400", "--seed", "7");
        var c = await GenerateAsync("c.ndjson", "--events", "400", "--seed", "8");

        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));
    }

    [Fact]
    public async Task Generate_EveryDocumentVerifies_AndIngestsWithoutRejectsOrDanglingReferences()
    {
        var file = await GenerateAsync("g.ndjson", "--events", "1500", "--seed", "3", "--orgs", "3", "--users", "5", "--sessions-share", "0.3", "--malicious-share", "0.2");
        var docs = File.ReadLines(file).Select(l => PythonJson.Parse(l, DuplicateKeys.Reject).AsDict).ToList();

        Assert.All(docs, d => Assert.Empty(DocumentVerifier.Verify(d)));
        Assert.Equal(docs.Count, docs.Select(d => d["_hash"]!.AsString).Distinct(StringComparer.Ordinal).Count());
        var byType = docs.GroupBy(d => d["itype"]!.AsString + "/" + d["sub_type"]!.AsString).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(1500, docs.Count(d => d["itype"]!.AsString == "event"));
        Assert.Equal(5, byType["object/cybexp_user"]);
        Assert.Equal(3, byType["object/cybexp_org"]);
        Assert.True(byType.GetValueOrDefault("session/session") > 0);
        Assert.True(byType.GetValueOrDefault("object/file") > 0);
        Assert.True(byType.GetValueOrDefault("object/url") > 0);
        var events = docs.Where(d => d["itype"]!.AsString == "event").ToList();
        Assert.All(events, e => Assert.InRange(((TahoeFloat)e["timestamp"]!).Value, ArchiveGenerator.DefaultStart, ArchiveGenerator.DefaultStart + (365 * 86400)));
        Assert.InRange(events.Count(e => e["category"]!.AsString == "malicious"), 200, 400);
        Assert.Contains(events, e => e["_mal_ref"]!.AsList.Count > 0);
        Assert.Contains(events, e => e["_ben_ref"]!.AsList.Count > 0);

        // Identity first: users, then orgs, before the first event.
        var firstEvent = docs.FindIndex(d => d["itype"]!.AsString == "event");
        Assert.Equal(firstEvent, docs.FindIndex(d => d["itype"]!.AsString != "attribute" && d["itype"]!.AsString != "object") );
        Assert.True(docs.FindLastIndex(d => d["sub_type"]!.AsString == "cybexp_org") < firstEvent);

        var (code, stdout, _) = await RunAsync("ingest", "--store", "sqlite:" + Path.Combine(_dir, "s.db"), "--json", file);
        Assert.Equal(0, code);
        var summary = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(docs.Count, summary.GetProperty("inserted").GetInt32());
        Assert.Equal(0, summary.GetProperty("rejected").GetInt32());
        Assert.Equal(0, summary.GetProperty("dangling_references").GetInt32());
    }

    [Fact]
    public async Task Generate_HasAHeavyTail_WithTheHubIpAndDomainOnTop()
    {
        var generator = new ArchiveGenerator(new GeneratorOptions(5000, Seed: 1));
        var refsPerHash = new Dictionary<string, int>(StringComparer.Ordinal);
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var doc in generator.Documents())
        {
            switch (doc["itype"]!.AsString)
            {
                case "attribute":
                    attributes[doc["_hash"]!.AsString] = doc["data"]!.AsString;
                    break;
                case "event":
                    foreach (var r in doc["_ref"]!.AsList.Items)
                    {
                        refsPerHash[r.AsString] = refsPerHash.GetValueOrDefault(r.AsString) + 1;
                    }

                    break;
            }
        }

        var attributeCounts = refsPerHash.Where(kv => attributes.ContainsKey(kv.Key)).Select(kv => (Value: attributes[kv.Key], Events: kv.Value)).OrderByDescending(x => x.Events).ToList();
        Assert.True(attributeCounts[0].Events >= 250, $"top attribute in {attributeCounts[0].Events} of 5000 events");
        Assert.True(attributeCounts.Count(x => x.Events == 1) > attributeCounts.Count / 2, "most values should be rare");
        var summary = generator.Summary!;
        var hubIp = Assert.Single(summary.TopValues, v => v.SubType == "ipv4");
        var hubDomain = Assert.Single(summary.TopValues, v => v.SubType == "domain");
        Assert.Equal((ArchiveGenerator.HubIp, refsPerHash[hubIp.Hash.Value]), (hubIp.Value, (int)hubIp.Events));
        Assert.Equal((ArchiveGenerator.HubDomain, refsPerHash[hubDomain.Hash.Value]), (hubDomain.Value, (int)hubDomain.Events));
        Assert.True(hubIp.Events >= 250 && hubDomain.Events >= 250);
        Assert.Equal(5000, summary.Events);
    }

    [Fact]
    public async Task Generate_RejectsUnusableOptions()
    {
        var (code, _, stderr) = await RunAsync("generate", "--events", "10", "--seed", "1", "--orgs", "3", "--users", "2", "--out", Path.Combine(_dir, "x.ndjson"));

        Assert.Equal(1, code);
        Assert.Equal("error: --users must be at least --orgs (every org needs an admin)", stderr.Trim());
    }

    [Fact]
    public void Generator_MemoryIsBoundedByThePool_NotByTheEvents()
    {
        // Each attribute family has at most PoolSize distinct values, whatever the number of events.
        var options = new GeneratorOptions(20_000, Seed: 5) { PoolSize = 64 };
        var distinct = new ArchiveGenerator(options).Documents()
            .Where(d => d["itype"]!.AsString == "attribute" && d["sub_type"]!.AsString == "ipv4")
            .Count();
        Assert.InRange(distinct, 1, 64);
    }
}
