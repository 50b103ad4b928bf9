using System.Runtime.InteropServices;
using System.Collections.Immutable;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>The parts of a composite computed from its children: data, canonical(data), _cref and _ref.</summary>
internal readonly record struct ComposedData(
    TahoeDict Data,
    string Canonical,
    ImmutableArray<InstanceHash> Cref,
    ImmutableArray<InstanceHash> Ref);

/// <summary>The original's <c>_validate_instance</c>, <c>_makedata</c> and <c>_makeref</c>.</summary>
internal static class Composition
{
    /// <summary>
    /// Validates a child list: not null, de-duplicated (the original does <c>list(set(instances))</c> over Python
    /// objects, which drops a repeated <em>reference</em> but keeps two equal instances), not empty, and only
    /// attributes or objects. Keeps the first-occurrence order so output never depends on hash-set order.
    /// </summary>
    public static List<TahoeInstance> Children(IEnumerable<TahoeInstance?>? children, string field)
    {
        if (children is null)
        {
            throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must be a list of attributes or objects, got None");
        }

        var list = new List<TahoeInstance>();
        foreach (var child in children)
        {
            if (child is null)
            {
                throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must hold only attributes or objects, got None");
            }

            if (!ContainsReference(list, child))
            {
                list.Add(child);
            }
        }

        if (list.Count == 0)
        {
            throw new TahoeException(TahoeErrorKind.ValueError, field, $"'{field}' cannot be empty: give at least one attribute or object");
        }

        foreach (var child in list)
        {
            if (child.Itype is not ("attribute" or "object"))
            {
                throw new TahoeException(
                    TahoeErrorKind.TypeError,
                    field,
                    $"'{field}' must hold only attributes or objects, got {child.Itype} {child.Hash}");
            }
        }

        return list;
    }

    /// <summary>Builds data, canonical(data), _cref and _ref from validated children.</summary>
    // Hot path of instance hashing: arrays and a linear key scan (few distinct sub_types) instead of dictionaries,
    // and each child's cached canonical string instead of re-walking its data.
    public static ComposedData Compose(IReadOnlyList<TahoeInstance> children)
    {
        var n = children.Count;
        var keys = new string[n];
        var groupOf = new int[n];
        var keyCount = 0;
        var refCount = n;
        for (var i = 0; i < n; i++)
        {
            var child = children[i];
            var subType = child.SubType;
            var k = 0;
            while (k < keyCount && !string.Equals(keys[k], subType, StringComparison.Ordinal))
            {
                k++;
            }

            if (k == keyCount)
            {
                keys[keyCount++] = subType;
            }

            groupOf[i] = k;
            if (child is TahoeComposite composite)
            {
                refCount += composite.Ref.Length;
            }
        }

        var sizes = new int[keyCount];
        foreach (var k in groupOf)
        {
            sizes[k]++;
        }

        var data = new TahoeValue[keyCount][];
        var canonical = new string[keyCount][];
        for (var k = 0; k < keyCount; k++)
        {
            data[k] = new TahoeValue[sizes[k]];
            canonical[k] = new string[sizes[k]];
            sizes[k] = 0;
        }

        var cref = new InstanceHash[n];
        var refs = new InstanceHash[refCount];
        var r = 0;
        for (var i = 0; i < n; i++)
        {
            var child = children[i];
            var k = groupOf[i];
            var at = sizes[k]++;
            data[k][at] = child.Data;
            canonical[k][at] = child.CanonicalData;
            cref[i] = child.Hash;
            refs[r++] = child.Hash;
            if (child is TahoeComposite composite)
            {
                composite.Ref.CopyTo(refs, r);
                r += composite.Ref.Length;
            }
        }

        var entries = new KeyValuePair<string, TahoeValue>[keyCount];
        var canonicalEntries = new KeyValuePair<string, string>[keyCount];
        for (var k = 0; k < keyCount; k++)
        {
            entries[k] = new(keys[k], new TahoeList(ImmutableCollectionsMarshal.AsImmutableArray(data[k])));
            canonicalEntries[k] = new(keys[k], Tahoe.Canonical.OfCanonicalStringsInPlace(canonical[k]));
        }

        return new ComposedData(
            TahoeDict.FromDistinctKeys(entries),
            Tahoe.Canonical.OfCanonicalEntriesInPlace(canonicalEntries),
            InstanceRules.SortedInPlace(cref),
            InstanceRules.SortedInPlace(refs));
    }

    /// <summary>
    /// The original's <c>edit</c>: <paramref name="add"/> must not be children yet, <paramref name="remove"/> must be;
    /// the new child list is the added instances followed by the stored children (those of
    /// <paramref name="storedChildren"/> whose hash is in <paramref name="cref"/>) minus the removed ones. A child
    /// hash with no stored instance is dropped, as in the original, which rebuilds data from the database.
    /// </summary>
    public static List<TahoeInstance> Edit(
        ImmutableArray<InstanceHash> cref,
        IEnumerable<TahoeInstance>? add,
        IEnumerable<TahoeInstance>? remove,
        IEnumerable<TahoeInstance> storedChildren)
    {
        var added = add is null ? [] : Children(add, "add");
        var removed = remove is null ? [] : Children(remove, "remove");
        if (added.Count + removed.Count == 0)
        {
            throw new TahoeException(TahoeErrorKind.ValueError, "add", "give instances to add or to remove");
        }

        var crefSet = new HashSet<InstanceHash>(cref);
        foreach (var i in added)
        {
            if (crefSet.Contains(i.Hash))
            {
                throw new TahoeException(TahoeErrorKind.ValueError, "add", $"cannot add {i.Itype} {i.Hash}: it is already a child");
            }
        }

        var removedHashes = new HashSet<InstanceHash>();
        foreach (var i in removed)
        {
            if (!crefSet.Contains(i.Hash))
            {
                throw new TahoeException(TahoeErrorKind.ValueError, "remove", $"cannot remove {i.Itype} {i.Hash}: it is not a child");
            }

            removedHashes.Add(i.Hash);
        }

        ArgumentNullException.ThrowIfNull(storedChildren);
        var result = new List<TahoeInstance>(added);
        var seen = new HashSet<InstanceHash>();
        foreach (var stored in storedChildren)
        {
            if (crefSet.Contains(stored.Hash) && !removedHashes.Contains(stored.Hash) && seen.Add(stored.Hash))
            {
                result.Add(stored);
            }
        }

        if (result.Count == 0)
        {
            throw new TahoeException(TahoeErrorKind.ValueError, "remove", "cannot remove every child: data cannot be empty");
        }

        return result;
    }

    private static bool ContainsReference(List<TahoeInstance> list, TahoeInstance item)
    {
        foreach (var x in list)
        {
            if (ReferenceEquals(x, item))
            {
                return true;
            }
        }

        return false;
    }
}
