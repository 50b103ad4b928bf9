using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>Argument checks shared by every instance type; messages name the field and what is accepted.</summary>
public static class InstanceRules
{
    /// <summary>The values an event's category and a context may take.</summary>
    public static readonly ImmutableArray<string> Categories = ["benign", "malicious", "unknown"];

    /// <summary>
    /// Python <c>str.isidentifier()</c>: a letter or underscore first, then letters, digits, underscores and combining
    /// marks (Unicode XID_Start / XID_Continue, approximated by general category plus the Other_ID_* code points).
    /// </summary>
    public static bool IsIdentifier(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        // ASCII (every sub_type in practice): a letter or underscore, then letters, digits and underscores.
        if (Ascii.IsValid(text))
        {
            if (!(char.IsAsciiLetter(text[0]) || text[0] == '_'))
            {
                return false;
            }

            foreach (var c in text)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c == '_'))
                {
                    return false;
                }
            }

            return true;
        }

        var first = true;
        foreach (var rune in text.EnumerateRunes())
        {
            // A lone surrogate enumerates as U+FFFD, which is not an identifier character either.
            if (!(first ? IsIdStart(rune) : IsIdContinue(rune)))
            {
                return false;
            }

            first = false;
        }

        return true;
    }

    /// <summary>Throws unless <paramref name="subType"/> is a str that is a Python identifier.</summary>
    public static string RequireSubType(string? subType, string field = "sub_type")
    {
        if (subType is null)
        {
            throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must be a string, got None");
        }

        if (!IsIdentifier(subType))
        {
            throw new TahoeException(
                TahoeErrorKind.ValueError,
                field,
                $"'{field}' must be a Python identifier such as ipv4 or file_hash, got '{subType}'");
        }

        return subType;
    }

    /// <summary>Throws unless <paramref name="value"/> is a str; returns it.</summary>
    public static string RequireString(TahoeValue? value, string field) => value switch
    {
        TahoeString s => s.Value,
        null => throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must be a string, got nothing"),
        _ => throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must be a string, got {Describe(value)}"),
    };

    /// <summary>Throws unless <paramref name="text"/> is not null; returns it.</summary>
    public static string RequireString(string? text, string field) =>
        text ?? throw new TahoeException(TahoeErrorKind.TypeError, field, $"'{field}' must be a string, got None");

    /// <summary>Throws unless <paramref name="category"/> is benign, malicious or unknown.</summary>
    public static string RequireCategory(string? category, string field = "category")
    {
        if (category is null || !Categories.Contains(category))
        {
            throw new TahoeException(
                TahoeErrorKind.ValueError,
                field,
                $"'{field}' must be one of benign, malicious, unknown, got '{category}'");
        }

        return category;
    }

    /// <summary>
    /// Python <c>float(x)</c> for an event timestamp: an int or bool becomes a float; anything else (a numeric string
    /// included, as in the original) is rejected.
    /// </summary>
    public static double RequireTimestamp(TahoeValue? value, string field = "timestamp")
    {
        switch (value)
        {
            case TahoeFloat f:
                return f.Value;
            case TahoeBool b:
                return b.Value ? 1.0 : 0.0;
            case TahoeInt i:
                if (i.FitsInt64)
                {
                    return i.Int64;
                }

                var d = (double)i.Value;
                if (double.IsInfinity(d))
                {
                    throw new TahoeException(TahoeErrorKind.OverflowError, field, $"'{field}' is too large to convert to a float: {i.Digits}");
                }

                return d;
            default:
                throw new TahoeException(
                    TahoeErrorKind.TypeError,
                    field,
                    $"'{field}' must be a number (int or float), got {(value is null ? "nothing" : Describe(value))}");
        }
    }

    /// <summary>A short description of a value's type and content for error messages.</summary>
    public static string Describe(TahoeValue value)
    {
        var text = value.ToString();
        if (text.Length > 60)
        {
            text = string.Concat(text.AsSpan(0, 57), "...");
        }

        return $"{value.Kind.ToString().ToLowerInvariant()} {text}";
    }

    internal static ImmutableArray<InstanceHash> Sorted(IEnumerable<InstanceHash> hashes) => SortedCopy([.. hashes]);

    /// <summary>A sorted copy of <paramref name="hashes"/> without repeats.</summary>
    internal static ImmutableArray<InstanceHash> SortedCopy(ReadOnlySpan<InstanceHash> hashes)
    {
        SortEdges(hashes, hashes.Length, out var sorted, out _);
        return sorted;
    }

    /// <summary>
    /// A composite's <c>_cref</c> and <c>_ref</c> from one sort: <paramref name="hashes"/> holds the children's hashes
    /// (the first <paramref name="childCount"/>) followed by their descendants'. Both lists are sorted, without repeats.
    /// </summary>
    // Digests (hex text) take the fast path: the first seven characters and the index packed into one ulong, sorted
    // as plain numbers (the BCL sort of InstanceHash goes through a comparer call and moves GC references on every
    // step, and this runs twice per composite). Hashes sharing those seven characters are ordered by the full text.
    internal static void SortEdges(
        ReadOnlySpan<InstanceHash> hashes,
        int childCount,
        out ImmutableArray<InstanceHash> children,
        out ImmutableArray<InstanceHash> all)
    {
        var n = hashes.Length;
        if (n <= 256)
        {
            Span<ulong> keys = stackalloc ulong[n];
            if (TryPack(hashes, keys))
            {
                keys.Sort();
                Span<int> order = stackalloc int[n];
                Span<bool> isChild = stackalloc bool[n];
                var distinct = 0;
                for (var i = 0; i < n;)
                {
                    var end = i + 1;
                    while (end < n && (keys[end] >> 8) == (keys[i] >> 8))
                    {
                        end++;
                    }

                    if (end == i + 1)
                    {
                        var only = (int)(keys[i] & 0xff);
                        order[distinct] = only;
                        isChild[distinct++] = only < childCount;
                        i = end;
                        continue;
                    }

                    // Hashes sharing the first seven characters: insert each by its full text, merging repeats.
                    var runStart = distinct;
                    for (var r = i; r < end; r++)
                    {
                        var index = (int)(keys[r] & 0xff);
                        var at = distinct;
                        var compared = 1;
                        while (at > runStart && (compared = string.CompareOrdinal(hashes[order[at - 1]].Value, hashes[index].Value)) > 0)
                        {
                            at--;
                        }

                        if (compared == 0)
                        {
                            isChild[at - 1] |= index < childCount;
                            continue;
                        }

                        for (var m = distinct; m > at; m--)
                        {
                            order[m] = order[m - 1];
                            isChild[m] = isChild[m - 1];
                        }

                        order[at] = index;
                        isChild[at] = index < childCount;
                        distinct++;
                    }

                    i = end;
                }

                var childArray = new InstanceHash[isChild[..distinct].Count(true)];
                var allArray = childArray.Length == distinct ? childArray : new InstanceHash[distinct];
                for (int m = 0, c = 0; m < distinct; m++)
                {
                    var hash = hashes[order[m]];
                    allArray[m] = hash;
                    if (isChild[m] && !ReferenceEquals(allArray, childArray))
                    {
                        childArray[c++] = hash;
                    }
                }

                children = ImmutableCollectionsMarshal.AsImmutableArray(childArray);
                all = ImmutableCollectionsMarshal.AsImmutableArray(allArray);
                return;
            }
        }

        children = SortedWithArraySort(hashes[..childCount]);
        all = childCount == n ? children : SortedWithArraySort(hashes);
    }

    private static ImmutableArray<InstanceHash> SortedWithArraySort(ReadOnlySpan<InstanceHash> hashes)
    {
        var array = hashes.ToArray();
        Array.Sort(array);
        var kept = array.Length == 0 ? 0 : 1;
        for (var m = 1; m < array.Length; m++)
        {
            if (array[m] != array[kept - 1])
            {
                array[kept++] = array[m];
            }
        }

        return kept == array.Length ? ImmutableCollectionsMarshal.AsImmutableArray(array) : ImmutableArray.Create(array, 0, kept);
    }

    // Packs each text's first seven characters (each below U+0100) and its index; false when one does not qualify.
    private static bool TryPack(ReadOnlySpan<InstanceHash> hashes, Span<ulong> packed)
    {
        for (var i = 0; i < hashes.Length; i++)
        {
            if (hashes[i].Value is not { Length: >= 7 } text)
            {
                return false;
            }

            var head = text.AsSpan(0, 7);
            if ((head[0] | head[1] | head[2] | head[3] | head[4] | head[5] | head[6]) > 0xff)
            {
                return false;
            }

            packed[i] = ((ulong)head[0] << 56) | ((ulong)head[1] << 48) | ((ulong)head[2] << 40) | ((ulong)head[3] << 32) |
                ((ulong)head[4] << 24) | ((ulong)head[5] << 16) | ((ulong)head[6] << 8) | (uint)i;
        }

        return true;
    }

    internal static TahoeValue HashList(ImmutableArray<InstanceHash> hashes)
    {
        var items = new TahoeValue[hashes.Length];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = TahoeValue.String(hashes[i].Value);
        }

        return TahoeValue.List(items);
    }

    internal static InstanceHash HashOf(string unique, string itype)
    {
        try
        {
            return InstanceHash.Of(unique);
        }
        catch (ArgumentException e)
        {
            throw LoneSurrogate(itype, e);
        }
    }

    internal static TahoeException LoneSurrogate(string itype, Exception? inner)
    {
        var message = $"the {itype} cannot be hashed: its text holds a lone surrogate";
        return inner is null
            ? new TahoeException(TahoeErrorKind.ValueError, "data", message)
            : new TahoeException(TahoeErrorKind.ValueError, "data", message, inner);
    }

    private static bool IsIdStart(Rune r)
    {
        if (r.Value == '_')
        {
            return true;
        }

        // Other_ID_Start.
        if (r.Value is 0x1885 or 0x1886 or 0x2118 or 0x212E or 0x309B or 0x309C)
        {
            return true;
        }

        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber => true,
            _ => false,
        };
    }

    private static bool IsIdContinue(Rune r)
    {
        if (IsIdStart(r))
        {
            return true;
        }

        // Other_ID_Continue.
        if (r.Value is 0x00B7 or 0x0387 or (>= 0x1369 and <= 0x1371) or 0x19DA)
        {
            return true;
        }

        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.DecimalDigitNumber
                or UnicodeCategory.ConnectorPunctuation => true,
            _ => false,
        };
    }
}
