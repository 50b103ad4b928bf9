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
        array.AsSpan().Sort(default(HashOrder));
        var n = 0;
        for (var i = 0; i < array.Length; i++)
        {
            if (n == 0 || array[n - 1] != array[i])
            {
                array[n++] = array[i];
            }
        }

        return n == array.Length ? ImmutableCollectionsMarshal.AsImmutableArray(array) : ImmutableArray.Create(array, 0, n);
    }

    // The sorted union of `sorted` (sorted, distinct) and `others` (any order; sorted here in place).
    internal static ImmutableArray<InstanceHash> Union(ReadOnlySpan<InstanceHash> sorted, Span<InstanceHash> others)
    {
        others.Sort(default(HashOrder));
        var result = new InstanceHash[sorted.Length + others.Length];
        int i = 0, j = 0, n = 0;
        var order = default(HashOrder);
        while (i < sorted.Length || j < others.Length)
        {
            InstanceHash next;
            if (j == others.Length || (i < sorted.Length && order.Compare(sorted[i], others[j]) <= 0))
            {
                next = sorted[i++];
            }
            else
            {
                next = others[j++];
            }

            if (n == 0 || result[n - 1] != next)
            {
                result[n++] = next;
            }
        }

        return n == result.Length ? ImmutableCollectionsMarshal.AsImmutableArray(result) : ImmutableArray.Create(result, 0, n);
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

    // InstanceHash order (ordinal on the text) with a cheap first step: the first four UTF-16 units packed into one
    // number decide almost every comparison of hex digests.
    private readonly struct HashOrder : IComparer<InstanceHash>
    {
        public int Compare(InstanceHash x, InstanceHash y)
        {
            if (x.Value is { Length: >= 4 } a && y.Value is { Length: >= 4 } b)
            {
                var pa = Prefix(a);
                var pb = Prefix(b);
                if (pa != pb)
                {
                    return pa < pb ? -1 : 1;
                }
            }

            return string.CompareOrdinal(x.Value, y.Value);
        }

        private static ulong Prefix(string s) => ((ulong)s[0] << 48) | ((ulong)s[1] << 32) | ((ulong)s[2] << 16) | s[3];
    }
}
