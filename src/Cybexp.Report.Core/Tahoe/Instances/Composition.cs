using System.Buffers;
using System.Buffers.Binary;
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
            // The common case: used as it is, no copy and no enumerator.
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

        RequireAttributesOrObjects(list, field);
        return list;
    }

    /// <summary>
    /// <see cref="Children"/> for a list that goes straight to <see cref="Compose"/>, which drops a repeated reference
    /// itself (within its sub_type, where a repeat must be): an array is checked but not de-duplicated or copied.
    /// Same checks and errors, in the same order, as <see cref="Children"/>.
    /// </summary>
    public static TahoeInstance[] ChildrenToCompose(IEnumerable<TahoeInstance?>? children, string field)
    {
        if (children is not TahoeInstance?[] array)
        {
            return Children(children, field);
        }

        foreach (var child in array)
        {
            NotNull(child, field);
        }

        if (array.Length == 0)
        {
            throw new TahoeException(TahoeErrorKind.ValueError, field, $"'{field}' cannot be empty: give at least one attribute or object");
        }

        RequireAttributesOrObjects(array!, field);
        return array!;
    }

    // The first offending child is the same whether or not repeats were dropped first (a repeat comes later).
    private static void RequireAttributesOrObjects(TahoeInstance[] list, string field)
    {
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
    }

    /// <summary>
    /// Builds data, <paramref name="prefix"/> + canonical(data) (and its escaped-twice form when
    /// <paramref name="childForm"/>, see <see cref="InstanceText"/>), _cref and _ref from validated children.
    /// </summary>
    // Hot path of instance hashing: a linear key scan (few distinct sub_types) instead of a dictionary, scratch space
    // on the stack or kept by the thread's writer, and each child's kept bytes instead of re-walking its data.
    public static ComposedData Compose(ReadOnlySpan<TahoeInstance> children, UniquePrefix prefix, bool childForm)
    {
        var count = children.Length;
        var writer = CanonicalWriter.Rent();
        var scratch = writer.Composition;
        var keys = scratch.Keys(count);
        var texts = scratch.Texts(count);
        int[]? rentedInts = null;
        var ints = count <= 64 ? stackalloc int[5 * count] : (rentedInts = ArrayPool<int>.Shared.Rent(5 * count)).AsSpan(0, 5 * count);
        var kept = ints[..count];
        var groupOf = ints.Slice(count, count);
        var order = ints.Slice(2 * count, count);
        var previousInGroup = ints.Slice(3 * count, count);
        var lastInGroup = ints.Slice(4 * count, count);
        var keyCount = 0;
        var n = 0;
        var hashCount = 0;
        try
        {
            // Group the children by sub_type (keys in first-seen order) and take what the text needs from each. A
            // reference passed twice counts once (the original's list(set(instances))); a repeat has the same
            // sub_type, so only that group's earlier members are looked at.
            for (var i = 0; i < count; i++)
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
                    lastInGroup[k] = -1;
                }

                var member = lastInGroup[k];
                while (member >= 0 && !ReferenceEquals(children[kept[member]], child))
                {
                    member = previousInGroup[member];
                }

                if (member >= 0)
                {
                    continue;
                }

                kept[n] = i;
                groupOf[n] = k;
                previousInGroup[n] = lastInGroup[k];
                lastInGroup[k] = n;
                hashCount += 1 + child.RefHashes.Length;

                // Attributes and objects always keep their escaped form (see InstanceText); canonical text is never empty.
                texts[n] = new ChildText(child.CanonicalText);
                if (texts[n].EscapedTwice.IsEmpty)
                {
                    throw new InvalidOperationException($"child {child} did not keep the form its parent embeds");
                }

                n++;
            }

            groupOf = groupOf[..n];
            order = order[..n];

            // data: {sub_type: [each child's data, in child order]}.
            var sizes = keyCount <= 128 ? stackalloc int[keyCount] : new int[keyCount];
            foreach (var k in groupOf)
            {
                sizes[k]++;
            }

            var lists = new TahoeValue[keyCount][];
            for (var k = 0; k < keyCount; k++)
            {
                lists[k] = new TahoeValue[sizes[k]];
                sizes[k] = 0;
            }

            // _cref: the children's hashes; _ref: those and every child's own _ref.
            var hashes = scratch.Hashes(hashCount);
            var d = n;
            for (var i = 0; i < n; i++)
            {
                var child = children[kept[i]];
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

            InstanceRules.SortEdges(hashes.AsSpan(0, hashCount), n, out var cref, out var refs);
            var text = WriteText(writer, keys.AsSpan(0, keyCount), texts, groupOf, order, sizes, prefix, childForm);
            return new ComposedData(TahoeDict.FromDistinctKeys(entries), text, cref, refs);
        }
        finally
        {
            scratch.Clear(keyCount, n, Math.Max(hashCount, n));
            CanonicalWriter.Return(writer);
            if (rentedInts is not null)
            {
                ArrayPool<int>.Shared.Return(rentedInts);
            }
        }
    }

    // Usually the very same string object (sub_types come from literals or one parse); else compare the text.
    private static bool SameKey(string a, string b) =>
        ReferenceEquals(a, b) || (a.Length == b.Length && string.Equals(a, b, StringComparison.Ordinal));

    // canonical(data) straight from the children's canonical bytes: data is {sub_type: [child data, ...]}, so its text
    // is {"key": "[\"<child escaped twice>\", ...]", ...} with keys in code-point order and each list's children
    // sorted by canonical text and de-duplicated. `sizes` holds each key's number of children; `order` is scratch.
    private static InstanceText WriteText(
        CanonicalWriter writer,
        ReadOnlySpan<string> keys,
        ChildText[] texts,
        ReadOnlySpan<int> groupOf,
        Span<int> order,
        ReadOnlySpan<int> sizes,
        UniquePrefix prefix,
        bool childForm)
    {
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

        for (var i = 0; i < groupOf.Length; i++)
        {
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

    // Orders child indexes by their canonical bytes and drops repeats (equal instances that are distinct objects);
    // returns how many are left. Insertion sort for the usual few children of one sub_type.
    private static int SortDistinctByCanonical(Span<int> group, ChildText[] texts)
    {
        if (group.Length > 32)
        {
            group.Sort(new ChildOrder(texts));
            var kept = 1;
            for (var m = 1; m < group.Length; m++)
            {
                if (texts[group[m]].CompareTo(texts[group[kept - 1]]) != 0)
                {
                    group[kept++] = group[m];
                }
            }

            return kept;
        }

        var count = 0;
        foreach (var item in group)
        {
            var text = texts[item];
            var at = count;
            var compared = 1;
            while (at > 0 && (compared = texts[group[at - 1]].CompareTo(text)) > 0)
            {
                at--;
            }

            if (compared == 0)
            {
                continue;
            }

            // `item` was read already: shifting may overwrite its slot (count never passes the element being read).
            for (var m = count; m > at; m--)
            {
                group[m] = group[m - 1];
            }

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

    /// <summary>A child's canonical text and escaped-twice form, with its first eight bytes as one number to compare.</summary>
    internal readonly struct ChildText
    {
        private readonly byte[] _utf8;
        private readonly int _start;
        private readonly int _end;
        private readonly ulong _head;

        public ChildText(InstanceText text)
        {
            _utf8 = text.Utf8 ?? [];
            _start = text.CanonicalStart;
            _end = text.CanonicalEnd;

            // Big-endian, zero-padded: ordered as the bytes are (canonical text is printable, above the padding).
            var canonical = Canonical;
            if (canonical.Length >= 8)
            {
                _head = BinaryPrimitives.ReadUInt64BigEndian(canonical);
            }
            else
            {
                for (var i = 0; i < 8; i++)
                {
                    _head = (_head << 8) | (i < canonical.Length ? canonical[i] : 0u);
                }
            }
        }

        public ReadOnlySpan<byte> Canonical => _utf8.AsSpan(_start, _end - _start);

        public ReadOnlySpan<byte> EscapedTwice => _utf8.AsSpan(_end);

        public int CompareTo(in ChildText other) =>
            _head != other._head ? (_head < other._head ? -1 : 1) : Canonical.SequenceCompareTo(other.Canonical);
    }

    private readonly struct ChildOrder(ChildText[] texts) : IComparer<int>
    {
        public int Compare(int x, int y) => texts[x].CompareTo(texts[y]);
    }
}

/// <summary>Per-thread scratch arrays for <see cref="Composition.Compose"/>, kept by the thread's <see cref="CanonicalWriter"/>.</summary>
internal sealed class CompositionScratch
{
    // Larger arrays are dropped after use rather than kept for the thread.
    private const int MaxKept = 4096;

    private string[] _keys = [];
    private Composition.ChildText[] _texts = [];
    private InstanceHash[] _hashes = [];

    /// <summary>Room for <paramref name="count"/> sub_types.</summary>
    public string[] Keys(int count) => _keys.Length >= count ? _keys : _keys = new string[Math.Max(count, 32)];

    /// <summary>Room for <paramref name="count"/> children's texts.</summary>
    public Composition.ChildText[] Texts(int count) => _texts.Length >= count ? _texts : _texts = new Composition.ChildText[Math.Max(count, 32)];

    /// <summary>Room for <paramref name="count"/> hashes.</summary>
    public InstanceHash[] Hashes(int count) => _hashes.Length >= count ? _hashes : _hashes = new InstanceHash[Math.Max(count, 64)];

    /// <summary>Forgets the references used (so nothing is kept alive) and drops arrays that grew large.</summary>
    public void Clear(int keys, int texts, int hashes)
    {
        Array.Clear(_keys, 0, Math.Min(keys, _keys.Length));
        Array.Clear(_texts, 0, Math.Min(texts, _texts.Length));
        Array.Clear(_hashes, 0, Math.Min(hashes, _hashes.Length));
        if (_keys.Length > MaxKept || _texts.Length > MaxKept || _hashes.Length > MaxKept)
        {
            _keys = [];
            _texts = [];
            _hashes = [];
        }
    }
}
