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

    internal static ImmutableArray<InstanceHash> Sorted(IEnumerable<InstanceHash> hashes) => SortedInPlace(hashes.ToArray());

    // Sorts, removes duplicates and takes ownership of the array when nothing was removed.
    internal static ImmutableArray<InstanceHash> SortedInPlace(InstanceHash[] array)
    {
        if (array.Length > MaxKeyedSort)
        {
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

        return SortedCopy(array);
    }

    // A sorted copy of `hashes` without repeats.
    internal static ImmutableArray<InstanceHash> SortedCopy(ReadOnlySpan<InstanceHash> hashes)
    {
        if (hashes.Length > MaxKeyedSort)
        {
            return SortedInPlace(hashes.ToArray());
        }

        Span<ulong> keys = stackalloc ulong[hashes.Length];
        Span<int> order = stackalloc int[hashes.Length];
        var n = SortIndexes(hashes, keys, order);
        var result = new InstanceHash[n];
        for (var i = 0; i < n; i++)
        {
            result[i] = hashes[order[i]];
        }

        return ImmutableCollectionsMarshal.AsImmutableArray(result);
    }

    // Lists up to this long (an event's children) sort by index on a packed text prefix: no comparer call and no
    // reference moved per step, which the BCL sort (a boxed comparer, GC-tracked moves) costs on short lists.
    private const int MaxKeyedSort = 128;

    // Sorts the indexes of `hashes` into `order`, dropping repeats; returns how many distinct hashes `order` lists.
    // Digests (hex text) take the fast path: the first seven characters and the index packed into one ulong, sorted
    // as plain numbers; a tie in those seven characters (or a repeat) falls back to the general sort.
    private static int SortIndexes(ReadOnlySpan<InstanceHash> hashes, Span<ulong> keys, Span<int> order)
    {
        if (hashes.Length <= 256 && TryPack(hashes, keys))
        {
            keys.Sort();
            var distinctPrefixes = true;
            for (var i = 0; i < keys.Length; i++)
            {
                distinctPrefixes &= i == 0 || (keys[i - 1] >> 8) != (keys[i] >> 8);
                order[i] = (int)(keys[i] & 0xff);
            }

            if (distinctPrefixes)
            {
                return keys.Length;
            }
        }

        return SortKeyed(hashes, keys, order);
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

    // Insertion-sorts the indexes of `hashes` into `order` by (prefix key, full text), dropping repeats; returns how
    // many distinct hashes `order` lists.
    private static int SortKeyed(ReadOnlySpan<InstanceHash> hashes, Span<ulong> keys, Span<int> order)
    {
        var count = 0;
        for (var index = 0; index < hashes.Length; index++)
        {
            var key = Prefix(hashes[index].Value);
            var at = count;
            var compared = 1;
            while (at > 0)
            {
                var before = keys[at - 1];
                compared = before != key ? (before < key ? -1 : 1) : string.CompareOrdinal(hashes[order[at - 1]].Value, hashes[index].Value);
                if (compared <= 0)
                {
                    break;
                }

                keys[at] = before;
                order[at] = order[at - 1];
                at--;
            }

            if (compared == 0)
            {
                // A repeat: undo the shift.
                for (var m = at; m < count; m++)
                {
                    keys[m] = keys[m + 1];
                    order[m] = order[m + 1];
                }

                continue;
            }

            keys[at] = key;
            order[at] = index;
            count++;
        }

        return count;
    }

    // The first four UTF-16 units as one number, ordered as the text is (ordinally); shorter text is padded with
    // zeros and null is 0, and equal numbers leave the decision to the full comparison.
    private static ulong Prefix(string? s)
    {
        if (s is { Length: >= 4 })
        {
            return ((ulong)s[0] << 48) | ((ulong)s[1] << 32) | ((ulong)s[2] << 16) | s[3];
        }

        ulong prefix = 0;
        for (var i = 0; i < 4; i++)
        {
            prefix = (prefix << 16) | (s is not null && i < s.Length ? s[i] : 0u);
        }

        return prefix;
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
