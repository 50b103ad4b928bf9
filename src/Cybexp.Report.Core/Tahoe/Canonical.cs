using System.Buffers;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// The TAHOE canonical text (<c>tahoe.misc.canonical</c>) and its inverse (<c>decanonical</c>), byte-identical to
/// the original Python: a dict becomes <c>json.dumps</c> of its values' canonical <em>strings</em> with keys sorted by
/// code point; a list becomes the sorted, de-duplicated array of its elements' canonical strings; a str is
/// <c>strip()</c>ped and dumped; anything else is dumped. Output is ASCII only.
/// </summary>
public static class Canonical
{
    /// <summary>Canonical text of <paramref name="value"/>.</summary>
    public static string Of(TahoeValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var writer = CanonicalWriter.Rent();
        try
        {
            writer.WriteCanonical(value);
            return Encoding.Latin1.GetString(writer.Output.Written);
        }
        finally
        {
            CanonicalWriter.Return(writer);
        }
    }

    /// <summary><c>json.dumps</c> of a scalar (int, float, bool, None), as Python writes it.</summary>
    public static string Scalar(TahoeValue value) => value switch
    {
        TahoeNull => "null",
        TahoeBool b => b.Value ? "true" : "false",
        TahoeInt i => i.Digits,
        TahoeFloat f => PythonText.FloatRepr(f.Value),
        TahoeString s => PythonText.JsonString(s.Value),
        _ => throw new ArgumentException($"not a scalar: {value.Kind}", nameof(value)),
    };

    /// <summary>
    /// The canonical text of a list given its elements' canonical strings: de-duplicated, sorted ordinally
    /// (they are ASCII) and dumped as a JSON array of strings.
    /// </summary>
    public static string OfCanonicalStrings(IEnumerable<string> canonicalElements) =>
        OfCanonicalStringsInPlace(canonicalElements.ToArray());

    // Sorts the array in place and skips duplicates while writing; writes in one pass into a pooled buffer sized for
    // the worst case (every char escaped as \uXXXX), as this is the hot path of instance hashing.
    internal static string OfCanonicalStringsInPlace(string[] items)
    {
        Array.Sort(items, StringComparer.Ordinal);
        var bound = 2;
        foreach (var item in items)
        {
            bound += (item.Length * 6) + 4;
        }

        var buffer = ArrayPool<char>.Shared.Rent(bound);
        try
        {
            var dest = buffer.AsSpan();
            dest[0] = '[';
            var j = 1;
            for (var i = 0; i < items.Length; i++)
            {
                if (i > 0)
                {
                    if (string.Equals(items[i - 1], items[i], StringComparison.Ordinal))
                    {
                        continue;
                    }

                    dest[j++] = ',';
                    dest[j++] = ' ';
                }

                j += PythonText.WriteJsonString(items[i], dest[j..]);
            }

            dest[j++] = ']';
            return new string(dest[..j]);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>The canonical text of a dict given each key's canonical value string.</summary>
    public static string OfCanonicalEntries(IEnumerable<KeyValuePair<string, string>> entries) =>
        OfCanonicalEntriesInPlace(entries.ToArray());

    // Sorts the array in place by key code point and writes the dict in one pass into a pooled worst-case buffer.
    internal static string OfCanonicalEntriesInPlace(KeyValuePair<string, string>[] items)
    {
        Array.Sort(items, static (a, b) => CodePointComparer.Instance.Compare(a.Key, b.Key));
        var bound = 2;
        foreach (var item in items)
        {
            bound += ((item.Key.Length + item.Value.Length) * 6) + 8;
        }

        var buffer = ArrayPool<char>.Shared.Rent(bound);
        try
        {
            var dest = buffer.AsSpan();
            dest[0] = '{';
            var j = 1;
            for (var i = 0; i < items.Length; i++)
            {
                if (i > 0)
                {
                    dest[j++] = ',';
                    dest[j++] = ' ';
                }

                j += PythonText.WriteJsonString(items[i].Key, dest[j..]);
                dest[j++] = ':';
                dest[j++] = ' ';
                j += PythonText.WriteJsonString(items[i].Value, dest[j..]);
            }

            dest[j++] = '}';
            return new string(dest[..j]);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// <c>decanonical</c>: parse <paramref name="text"/> as Python's <c>json.loads</c> would; a dict or list has each
    /// member decanonicalised in turn; on any parse failure the text itself is returned as a str.
    /// </summary>
    public static TahoeValue Decanonical(string text)
    {
        var parsed = PythonJson.TryParse(text, DuplicateKeys.LastWins, out var value, out _);
        return parsed ? Descend(value) : TahoeValue.String(text);
    }

    private static TahoeValue Descend(TahoeValue value) => value switch
    {
        TahoeDict d => TahoeDict.From(d.Entries.Select(e => new KeyValuePair<string, TahoeValue>(e.Key, DecanonicalMember(e.Value)))),
        TahoeList l => TahoeValue.List(l.Items.Select(DecanonicalMember)),
        _ => value,
    };

    // decanonical(x) for a member: only str members are parsed again (json.loads of an int raises, giving x back).
    private static TahoeValue DecanonicalMember(TahoeValue member) =>
        member is TahoeString s ? Decanonical(s.Value) : member;
}

/// <summary>Orders strings by Unicode code point, as Python sorts <c>str</c> (differs from ordinal UTF-16 order above U+D7FF).</summary>
public sealed class CodePointComparer : IComparer<string>
{
    /// <summary>The single instance.</summary>
    public static CodePointComparer Instance { get; } = new();

    /// <inheritdoc />
    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null)
        {
            return -1;
        }

        if (y is null)
        {
            return 1;
        }

        var i = x.AsSpan().CommonPrefixLength(y);
        if (i == x.Length || i == y.Length)
        {
            return x.Length.CompareTo(y.Length);
        }

        var a = x[i];
        var b = y[i];
        if (a < 0xd800 && b < 0xd800)
        {
            return a.CompareTo(b);
        }

        // A surrogate (part of a code point >= U+10000, or a lone one in U+D800..DFFF) ranks by its code point:
        // a pair sorts above every BMP character; U+E000..U+FFFF sort above lone surrogates but below pairs.
        return Rank(x, i).CompareTo(Rank(y, i));
    }

    private static int Rank(string s, int i)
    {
        var c = s[i];
        if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
        {
            return char.ConvertToUtf32(c, s[i + 1]);
        }

        if (char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(s[i - 1]))
        {
            // Same high surrogate before: the pairs differ in the low half only.
            return char.ConvertToUtf32(s[i - 1], c);
        }

        return c;
    }
}
