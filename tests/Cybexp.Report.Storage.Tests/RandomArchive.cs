using Cybexp.Report.Core.Storage;
using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Storage.Tests;

/// <summary>
/// A small random TAHOE archive for property tests: several orgs and users (one user in two orgs, one in none), hub
/// attributes reused by many events, objects nesting attributes, benign/malicious contexts and categories, sessions
/// grouping events across orgs. Documents are in the order they would be ingested.
/// </summary>
internal sealed class RandomArchive
{
    private static readonly string[] SubTypes = ["ipv4", "domain", "url", "filename", "sha256", "email_addr"];

    private RandomArchive(List<ArchiveDocument> docs, Dictionary<string, InstanceHash> users, List<(string SubType, TahoeValue Data)> attributes, List<ArchiveDocument> events)
    {
        Documents = docs;
        Users = users;
        Attributes = attributes;
        Events = events;
    }

    /// <summary>Every document, identity first, in ingest order.</summary>
    public IReadOnlyList<ArchiveDocument> Documents { get; }

    /// <summary>User name → hash: a (org A), b (org B), ab (both), none (no org).</summary>
    public IReadOnlyDictionary<string, InstanceHash> Users { get; }

    /// <summary>Attributes that may be queried (sub_type, data).</summary>
    public IReadOnlyList<(string SubType, TahoeValue Data)> Attributes { get; }

    /// <summary>The event documents in ingest order.</summary>
    public IReadOnlyList<ArchiveDocument> Events { get; }

    /// <summary>The org hash of org A / org B.</summary>
    public string OrgA => Documents.Single(d => d.IsOrg && IdentityDocuments.Org(d).OrgName == "orgA").Hash.Value;

    public string OrgB => Documents.Single(d => d.IsOrg && IdentityDocuments.Org(d).OrgName == "orgB").Hash.Value;

    public static RandomArchive Generate(int seed, int events = 40)
    {
        var rng = new Random(seed);
        var docs = new List<ArchiveDocument>();
        var ua = TahoeUser.Create("a@orga.example", "pw", "A");
        var ub = TahoeUser.Create("b@orgb.example", "pw", "B");
        var uab = TahoeUser.Create("ab@both.example", "pw", "AB");
        var unone = TahoeUser.Create("none@nowhere.example", "pw", "None");
        var orgA = TahoeOrg.Create("orgA", [ua, uab], [ua], "Org A");
        var orgB = TahoeOrg.Create("orgB", [ub, uab], [ub], "Org B");
        foreach (var i in new TahoeInstance[] { ua, ub, uab, unone, orgA, orgB })
        {
            Add(docs, i);
        }

        // A pool of attribute values; low indexes are hubs (picked far more often).
        var pool = new List<TahoeAttribute>();
        for (var i = 0; i < 12; i++)
        {
            var st = SubTypes[i % SubTypes.Length];
            pool.Add(TahoeAttribute.Create(st, TahoeValue.String($"{st}-{i}")));
        }

        var stored = new HashSet<InstanceHash>();
        var eventDocs = new List<TahoeEvent>();
        for (var e = 0; e < events; e++)
        {
            var children = new List<TahoeInstance>();
            var n = rng.Next(1, 4);
            for (var k = 0; k < n; k++)
            {
                children.Add(pool[Math.Min(pool.Count - 1, (int)Math.Floor(Math.Pow(rng.NextDouble(), 2.5) * pool.Count))]);
            }

            if (rng.Next(3) == 0)
            {
                children.Add(TahoeObject.Create("file", pool[rng.Next(pool.Count)], pool[rng.Next(pool.Count)]));
            }

            children = children.DistinctBy(c => c.Hash).ToList();
            foreach (var c in children)
            {
                foreach (var d in c is TahoeObject o ? [.. PoolChildren(o, pool), c] : new[] { c })
                {
                    if (stored.Add(d.Hash))
                    {
                        Add(docs, d);
                    }
                }
            }

            var org = rng.Next(2) == 0 ? orgA.Hash.Value : orgB.Hash.Value;
            var context = rng.Next(4);
            var ev = TahoeEvent.Create(
                "sighting",
                children,
                org,
                1_600_000_000 + (rng.Next(0, 400) * 43_200.0),
                benign: context == 1 ? [children[0]] : null,
                malicious: context == 2 ? [children[0]] : null);
            ev = ev.SetCategory(rng.Next(5) switch { 0 => "malicious", 1 => "benign", _ => "unknown" });
            eventDocs.Add(ev);
            Add(docs, ev);
        }

        for (var s = 0; s < events / 8; s++)
        {
            var session = TahoeSession.Create("ssh", [TahoeAttribute.Create("sessionid", TahoeValue.String($"s{seed}-{s}"))]);
            session = session.AddEvent(Enumerable.Range(0, rng.Next(2, 6)).Select(_ => eventDocs[rng.Next(eventDocs.Count)]).DistinctBy(x => x.Hash));
            Add(docs, TahoeAttribute.Create("sessionid", TahoeValue.String($"s{seed}-{s}")));
            Add(docs, session);
        }

        var users = new Dictionary<string, InstanceHash>(StringComparer.Ordinal)
        {
            ["a"] = ua.Hash,
            ["b"] = ub.Hash,
            ["ab"] = uab.Hash,
            ["none"] = unone.Hash,
        };
        return new RandomArchive(docs, users, [.. pool.Select(p => (p.SubType, p.Data)), ("domain", TahoeValue.String("absent.example"))], [.. docs.Where(d => d.Itype == "event")]);
    }

    private static IEnumerable<TahoeInstance> PoolChildren(TahoeObject o, List<TahoeAttribute> pool) =>
        pool.Where(p => o.Cref.Contains(p.Hash));

    private static void Add(List<ArchiveDocument> docs, TahoeInstance instance)
    {
        if (!ArchiveDocument.TryCreate(instance.Document, out var doc, out var error))
        {
            throw new InvalidOperationException(error);
        }

        if (docs.All(d => d.Hash != doc!.Hash))
        {
            docs.Add(doc!);
        }
    }
}
