using Cybexp.Report.Core.Tahoe;

namespace Cybexp.Report.Core.Tests.Tahoe;

/// <summary>
/// A tiny in-memory emulation of the original's MongoDB collection, enough to replay the golden vectors: documents in
/// insertion order, insert-once by <c>_hash</c> (a constructor whose hash exists takes the stored fields), the
/// <c>edit</c> cascade with upserts and deletes, and the <c>Attribute('mock','mock')</c> that the original's
/// <c>parse()</c> inserts as a side effect. Production code never lets construction depend on a store.
/// </summary>
internal sealed class VectorStore
{
    private static readonly TahoeAttribute Mock = TahoeAttribute.Create("mock", "mock");

    private readonly List<TahoeDict> _docs = [];

    public IReadOnlyList<TahoeDict> Documents => _docs;

    /// <summary>Stores a freshly built instance (and the children it creates) the way the original's constructor does.</summary>
    public TahoeInstance Insert(TahoeInstance instance)
    {
        IEnumerable<TahoeInstance> created = instance switch
        {
            TahoeQuery q => q.Descendants,
            TahoeUser u => u.Descendants,
            TahoeOrg o => o.Descendants,
            _ => [],
        };
        foreach (var child in created)
        {
            InsertOne(child);
        }

        return InsertOne(instance);
    }

    /// <summary>The original's <c>add_instance</c>/<c>remove_instance</c> (<c>edit</c>) on a stored object or event.</summary>
    public TahoeComposite Edit(TahoeComposite target, IReadOnlyList<TahoeInstance>? add, IReadOnlyList<TahoeInstance>? remove)
    {
        // The original validates before it reads (and parses) the children, so a failing edit leaves no trace.
        var stored = Find(target.Cref).ToList();
        var edited = EditWith(target, add, remove, stored.Select(d => TahoeInstance.FromDocument(d).Value).ToList());
        Parse(stored);
        Upsert(edited.Document);
        if (edited.Hash == target.Hash)
        {
            return edited;
        }

        var parents = _docs.Where(d => HashList(d, "_cref").Contains(target.Hash.Value)).ToList();
        foreach (var parentDoc in parents)
        {
            var parent = (TahoeComposite)ParseOne(parentDoc);
            Edit(parent, [edited], [target]);
        }

        Delete(target);
        return edited;
    }

    /// <summary>Replaces fields of the stored document of <paramref name="updated"/> (the original's <c>_update</c>, <c>$set</c>) and re-reads it.</summary>
    public TahoeInstance Set(TahoeInstance updated, params string[] fields)
    {
        var index = IndexOf(updated.Hash.Value);
        var doc = _docs[index];
        foreach (var f in fields)
        {
            doc = doc.With(f, updated.Document[f]!);
        }

        _docs[index] = doc;
        return TahoeInstance.FromDocument(doc).Value;
    }

    /// <summary>A query status edit: the new status attribute is inserted, the children are parsed, the query doc is $set.</summary>
    public TahoeQuery SetQuery(TahoeQuery updated)
    {
        foreach (var child in updated.Descendants)
        {
            if (IndexOf(child.Hash.Value) < 0)
            {
                InsertOne(child);
            }
        }

        Parse(Find(updated.Cref).ToList());
        Upsert(updated.Document);
        return updated;
    }

    private static TahoeComposite EditWith(TahoeComposite target, IReadOnlyList<TahoeInstance>? add, IReadOnlyList<TahoeInstance>? remove, IEnumerable<TahoeInstance> children) =>
        target switch
        {
            TahoeObject o => o.Edit(add, remove, children),
            TahoeEvent e => e.Edit(add, remove, children),
            _ => throw new InvalidOperationException($"the vectors edit only objects and events, not {target.Itype}"),
        };

    private TahoeInstance InsertOne(TahoeInstance instance)
    {
        var index = IndexOf(instance.Hash.Value);
        if (index >= 0)
        {
            return TahoeInstance.FromDocument(_docs[index]).Value;
        }

        _docs.Add(instance.Document);
        return instance;
    }

    private void Upsert(TahoeDict doc)
    {
        var index = IndexOf(doc["_hash"]!.AsString);
        if (index < 0)
        {
            // An upsert inserts the filter key first.
            _docs.Add(TahoeDict.From(new[] { new KeyValuePair<string, TahoeValue>("_hash", doc["_hash"]!) }.Concat(doc.Entries)));
            return;
        }

        var stored = _docs[index];
        foreach (var e in doc.Entries)
        {
            stored = stored.With(e.Key, e.Value);
        }

        _docs[index] = stored;
    }

    // The original's Instance.delete(): refuse while referred to, then delete, then try each child.
    private void Delete(TahoeInstance instance)
    {
        if (_docs.Any(d => HashList(d, "_ref").Contains(instance.Hash.Value)))
        {
            throw new InvalidOperationException($"DependencyError: {instance.Hash} is still referred to");
        }

        var index = IndexOf(instance.Hash.Value);
        if (index >= 0)
        {
            _docs.RemoveAt(index);
        }

        if (instance is not TahoeComposite composite)
        {
            return;
        }

        foreach (var childDoc in Find(composite.Cref).ToList())
        {
            var child = ParseOne(childDoc);
            if (!_docs.Any(d => HashList(d, "_ref").Contains(child.Hash.Value)))
            {
                Delete(child);
            }
        }
    }

    private List<TahoeInstance> Parse(List<TahoeDict> docs) => docs.Select(ParseOne).ToList();

    private TahoeInstance ParseOne(TahoeDict doc)
    {
        InsertOne(Mock);
        return TahoeInstance.FromDocument(doc).Value;
    }

    private IEnumerable<TahoeDict> Find(IEnumerable<InstanceHash> hashes)
    {
        var set = hashes.Select(h => h.Value).ToHashSet(StringComparer.Ordinal);
        return _docs.Where(d => set.Contains(d["_hash"]!.AsString));
    }

    private int IndexOf(string hash) => _docs.FindIndex(d => d["_hash"]!.AsString == hash);

    private static IEnumerable<string> HashList(TahoeDict doc, string key) =>
        doc[key] is TahoeList l ? l.Items.Select(i => i.AsString) : [];
}
