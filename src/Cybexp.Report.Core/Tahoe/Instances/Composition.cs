using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// The parts of a composite computed from its children: data, its text (a unique-text prefix, or none, followed by
/// canonical(data)), _cref and _ref.
/// </summary>
internal readonly record struct ComposedData(
    TahoeDict Data,
    InstanceText Text,
    ImmutableArray<InstanceHash> Cref,
    ImmutableArray<InstanceHash> Ref)
{
    /// <summary>A composite read back from a document: its text is computed from the stored data.</summary>
    public static ComposedData Restored(
        TahoeDict data,
        UniquePrefix prefix,
        bool childForm,
        ImmutableArray<InstanceHash> cref,
        ImmutableArray<InstanceHash> refs) =>
        new(data, InstanceText.Of(prefix, data, childForm), cref, refs);
}

/// <summary>The original's <c>_validate_instance</c>, <c>_makedata</c> and <c>_makeref</c>.</summary>
internal static class Composition
{
    /// <summary>
    /// Validates a child list: not null, de-duplicated (the original does <c>list(set(instances))</c> over Python
    /// objects, which drops a repeated <em>reference</em> but keeps two equal instances), not empty, and only
    /// attributes or objects. Keeps the first-occurrence order so output never depends on hash-set order.
    /// </summary>
    public static TahoeInstance[] Children(IEnumerable<TahoeInstance?>? children, string field)
    {
        if (children is null)
        {
            throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must be a list of attributes or objects, got None");
        }

        TahoeInstance[] list;
        if (children is TahoeInstance?[] array && AllDistinct(array, field))
        {
            // The common case: used as it is (only read while composing), no copy and no enumerator.
            list = array!;
        }
        else
        {
            var kept = new List<TahoeInstance>(children is IReadOnlyCollection<TahoeInstance?> sized ? sized.Count : 0);
            var seen = new HashSet<TahoeInstance>(ReferenceEqualityComparer.Instance);
            foreach (var child in children)
            {
                if (seen.Add(NotNull(child, field)))
                {
                    kept.Add(child!);
                }
            }

            list = [.. kept];
        }

        if (list.Length == 0)
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

    /// <summary>
    /// Builds data, <paramref name="prefix"/> + canonical(data) (and its escaped-twice form when
    /// <paramref name="childForm"/>, see <see cref="InstanceText"/>), _cref and _ref from validated children.
    /// </summary>
    // Hot path of instance hashing: a linear key scan (few distinct sub_types) instead of a dictionary, scratch space
    // from the stack or the pool, and each child's kept canonical bytes instead of re-walking its data.
    public static ComposedData Compose(ReadOnlySpan<TahoeInstance> children, UniquePrefix prefix, bool childForm)
    {
        var n = children.Length;
        var keys = ArrayPool<string>.Shared.Rent(n);
        int[]? rentedGroups = null;
        var groupOf = n <= 256 ? stackalloc int[n] : (rentedGroups = ArrayPool<int>.Shared.Rent(n)).AsSpan(0, n);
        InstanceHash[]? hashes = null;
        try
        {
            var keyCount = 0;
            var descendantCount = 0;
            for (var i = 0; i < n; i++)
            {
                var child = children[i];
                var subType = child.SubType;
                var k = 0;
                while (k < keyCount && !SameKey(keys[k], subType))
                {
                    k++;
                }

                if (k == keyCount)
                {
                    keys[keyCount++] = subType;
                }

                groupOf[i] = k;
                descendantCount += child.RefHashes.Length;
            }

            // data: {sub_type: [each child's data, in child order]}, keys in first-seen order.
            var lists = new TahoeValue[keyCount][];
            var sizes = keyCount <= 256 ? stackalloc int[keyCount] : new int[keyCount];
            foreach (var k in groupOf)
            {
                sizes[k]++;
            }

            for (var k = 0; k < keyCount; k++)
            {
                lists[k] = new TahoeValue[sizes[k]];
                sizes[k] = 0;
            }

            // _cref: the children's hashes; _ref: those followed by every child's own _ref (each list sorted below).
            hashes = ArrayPool<InstanceHash>.Shared.Rent(n + descendantCount);
            var d = n;
            for (var i = 0; i < n; i++)
            {
                var child = children[i];
                var k = groupOf[i];

                // The lists were just made as TahoeValue[]: no covariant store check needed.
                Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(lists[k]), sizes[k]++) = child.Data;
                hashes[i] = child.Hash;
                child.RefHashes.CopyTo(hashes, d);
                d += child.RefHashes.Length;
            }

            var entries = new KeyValuePair<string, TahoeValue>[keyCount];
            for (var k = 0; k < keyCount; k++)
            {
                entries[k] = new(keys[k], new TahoeList(ImmutableCollectionsMarshal.AsImmutableArray(lists[k])));
            }

            var cref = InstanceRules.SortedCopy(hashes.AsSpan(0, n));
            return new ComposedData(
                TahoeDict.FromDistinctKeys(entries),
                WriteText(children, keys.AsSpan(0, keyCount), groupOf, sizes, prefix, childForm),
                cref,
                descendantCount == 0 ? cref : InstanceRules.SortedCopy(hashes.AsSpan(0, n + descendantCount)));
        }
        finally
        {
            ArrayPool<string>.Shared.Return(keys, clearArray: true);
            if (rentedGroups is not null)
            {
                ArrayPool<int>.Shared.Return(rentedGroups);
            }

            if (hashes is not null)
            {
                ArrayPool<InstanceHash>.Shared.Return(hashes, clearArray: true);
            }
        }
    }

    // Usually the very same string object (sub_types come from literals or one parse); else compare the text.
    private static bool SameKey(string a, string b) =>
        ReferenceEquals(a, b) || (a.Length == b.Length && string.Equals(a, b, StringComparison.Ordinal));

    // canonical(data) straight from the children's canonical bytes: data is {sub_type: [child data, ...]}, so its text
    // is {"key": "[\"<child escaped twice>\", ...]", ...} with keys in code-point order and each list's children
    // sorted by canonical text and de-duplicated. `sizes` holds each key's number of children.
    private static InstanceText WriteText(
        ReadOnlySpan<TahoeInstance> children,
        ReadOnlySpan<string> keys,
        ReadOnlySpan<int> groupOf,
        ReadOnlySpan<int> sizes,
        UniquePrefix prefix,
        bool childForm)
    {
        var n = children.Length;
        var keyCount = keys.Length;

        // Keys in code-point order (few of them: insertion sort), then where each key's children start in `order`.
        var byRank = keyCount <= 128 ? stackalloc int[keyCount] : new int[keyCount];
        var next = keyCount <= 128 ? stackalloc int[keyCount] : new int[keyCount];
        for (var k = 0; k < keyCount; k++)
        {
            var at = k;
            while (at > 0 && CodePointComparer.Instance.Compare(keys[byRank[at - 1]], keys[k]) > 0)
            {
                byRank[at] = byRank[at - 1];
                at--;
            }

            byRank[at] = k;
        }

        var offset = 0;
        foreach (var k in byRank)
        {
            next[k] = offset;
            offset += sizes[k];
        }

        var texts = ArrayPool<InstanceText>.Shared.Rent(n);
        int[]? rentedOrder = null;
        var order = n <= 256 ? stackalloc int[n] : (rentedOrder = ArrayPool<int>.Shared.Rent(n)).AsSpan(0, n);
        var writer = CanonicalWriter.Rent();
        try
        {
            for (var i = 0; i < n; i++)
            {
                // Attributes and objects always keep their escaped form (see InstanceText); canonical text is never empty.
                texts[i] = children[i].CanonicalText;
                if (texts[i].EscapedTwice.IsEmpty)
                {
                    throw new InvalidOperationException($"child {children[i]} did not keep the form its parent embeds");
                }

                order[next[groupOf[i]]++] = i;
            }

            prefix.WriteTo(writer);
            var start = writer.Output.Length;
            var output = writer.Output;
            output.Write((byte)'{');
            offset = 0;
            for (var rank = 0; rank < keyCount; rank++)
            {
                var k = byRank[rank];
                var group = order.Slice(offset, sizes[k]);
                offset += group.Length;
                group = group[..SortDistinctByCanonical(group, texts)];
                if (rank > 0)
                {
                    output.Write(", "u8);
                }

                CanonicalWriter.WriteJsonString(output, keys[k], 0);
                output.Write(": \"["u8);

                // Each child: \"<its canonical text escaped twice>\", joined by ", ". Room for all of them first.
                var room = 0;
                foreach (var index in group)
                {
                    room += texts[index].EscapedTwice.Length + 6;
                }

                var span = output.GetSpan(room);
                var j = 0;
                for (var m = 0; m < group.Length; m++)
                {
                    if (m > 0)
                    {
                        span[j++] = (byte)',';
                        span[j++] = (byte)' ';
                    }

                    span[j++] = (byte)'\\';
                    span[j++] = (byte)'"';
                    var escaped = texts[group[m]].EscapedTwice;
                    escaped.CopyTo(span[j..]);
                    j += escaped.Length;
                    span[j++] = (byte)'\\';
                    span[j++] = (byte)'"';
                }

                output.Advance(j);
                output.Write("]\""u8);
            }

            output.Write((byte)'}');
            return writer.ToInstanceText(start, childForm ? Keep.ChildForm : Keep.Nothing, hash: !prefix.IsNone);
        }
        finally
        {
            CanonicalWriter.Return(writer);
            ArrayPool<InstanceText>.Shared.Return(texts, clearArray: true);
            if (rentedOrder is not null)
            {
                ArrayPool<int>.Shared.Return(rentedOrder);
            }
        }
    }

    // Orders child indexes by their canonical bytes and drops repeats (equal instances that are distinct objects);
    // returns how many are left. Insertion sort for the usual few children of one sub_type.
    private static int SortDistinctByCanonical(Span<int> group, InstanceText[] texts)
    {
        if (group.Length > 16)
        {
            group.Sort(new CanonicalOrder(texts));
            var kept = 1;
            for (var m = 1; m < group.Length; m++)
            {
                if (!texts[group[m]].Canonical.SequenceEqual(texts[group[kept - 1]].Canonical))
                {
                    group[kept++] = group[m];
                }
            }

            return kept;
        }

        var count = 0;
        foreach (var item in group)
        {
            var canonical = texts[item].Canonical;
            var at = count;
            var order = 1;
            while (at > 0 && (order = texts[group[at - 1]].Canonical.SequenceCompareTo(canonical)) > 0)
            {
                at--;
            }

            if (order == 0)
            {
                continue;
            }

            group.Slice(at, count - at).CopyTo(group[(at + 1)..]);
            group[at] = item;
            count++;
        }

        return count;
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
        if (added.Length + removed.Length == 0)
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

    private static TahoeInstance NotNull(TahoeInstance? child, string field) =>
        child ?? throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must hold only attributes or objects, got None");

    // True when no instance appears twice (by reference); throws at the first null, in order, as the original does.
    private static bool AllDistinct(TahoeInstance?[] array, string field)
    {
        if (array.Length > 32)
        {
            var seen = new HashSet<TahoeInstance>(array.Length, ReferenceEqualityComparer.Instance);
            var distinct = true;
            foreach (var child in array)
            {
                distinct &= seen.Add(NotNull(child, field));
            }

            return distinct;
        }

        for (var i = 0; i < array.Length; i++)
        {
            var child = NotNull(array[i], field);
            for (var j = 0; j < i; j++)
            {
                if (ReferenceEquals(array[j], child))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private readonly struct CanonicalOrder(InstanceText[] texts) : IComparer<int>
    {
        public int Compare(int x, int y) => texts[x].Canonical.SequenceCompareTo(texts[y].Canonical);
    }
}
