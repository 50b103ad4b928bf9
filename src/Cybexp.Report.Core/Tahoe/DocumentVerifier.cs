using System.Globalization;
using System.Text;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// Checks one stored TAHOE document: its <c>itype</c> and <c>sub_type</c>, its <c>_hash</c> against the hash
/// recomputed from its content, the shape of its edge lists and their subset rules, and the per-itype fields the
/// original enforces (scalar attribute data; event <c>orgid</c>, <c>timestamp</c> and <c>category</c>).
/// </summary>
public static class DocumentVerifier
{
    /// <summary>The itypes a stored document may have (users, orgs and TDQLs are objects).</summary>
    public static readonly IReadOnlySet<string> Itypes =
        new HashSet<string>(StringComparer.Ordinal) { "attribute", "object", "event", "session", "raw", "report" };

    /// <summary>The values an event's <c>category</c> may take.</summary>
    public static readonly IReadOnlySet<string> Categories =
        new HashSet<string>(StringComparer.Ordinal) { "benign", "malicious", "unknown" };

    /// <summary>The edge lists, in the order they are checked.</summary>
    public static readonly IReadOnlyList<string> EdgeLists = ["_cref", "_ref", "_ben_ref", "_mal_ref"];

    /// <summary>Every problem of <paramref name="doc"/>, each a short reason naming the field; empty when valid.</summary>
    public static IReadOnlyList<string> Verify(TahoeDict doc)
    {
        ArgumentNullException.ThrowIfNull(doc);
        var problems = new List<string>();

        // A field the unique text needs is missing or of the wrong type: the hash cannot be recomputed, and the
        // field's own problem already says why.
        var hashable = true;

        var itype = (doc["itype"] as TahoeString)?.Value;
        if (itype is null)
        {
            problems.Add("'itype' is missing or not a string");
            hashable = false;
        }
        else if (!Itypes.Contains(itype))
        {
            problems.Add($"'itype' must be one of attribute, object, event, session, raw, report; got {Quote(itype)}");
        }

        if (doc["sub_type"] is not TahoeString subType)
        {
            problems.Add("'sub_type' is missing or not a string");
            hashable = false;
        }
        else if (!IsPythonIdentifier(subType.Value))
        {
            problems.Add($"'sub_type' {Quote(subType.Value)} is not a Python identifier");
        }

        if (!doc.TryGet("data", out var data))
        {
            problems.Add("'data' is missing");
            hashable = false;
        }
        else if (itype == "attribute" && data.Kind is TahoeKind.List or TahoeKind.Dict)
        {
            problems.Add($"attribute 'data' must be a scalar (str, int, float, bool or null), got a {KindName(data)}");
        }

        if (itype == "event")
        {
            if (doc["orgid"] is not TahoeString)
            {
                problems.Add("event 'orgid' is missing or not a string");
                hashable = false;
            }

            if (doc["timestamp"] is not (TahoeInt or TahoeFloat))
            {
                problems.Add("event 'timestamp' is missing or not a number");
                hashable = false;
            }

            if (doc["category"] is not TahoeString { Value: var category } || !Categories.Contains(category))
            {
                problems.Add($"event 'category' must be benign, malicious or unknown; got {Show(doc["category"])}");
            }
        }

        CheckHash(doc, hashable, problems);
        CheckEdges(doc, problems);
        return problems;
    }

    /// <summary>
    /// Approximates Python's <c>str.isidentifier()</c>: the first character is a letter, a letter number or
    /// <c>_</c>; the rest are letters, digits, letter numbers, combining marks or connector punctuation.
    /// </summary>
    public static bool IsPythonIdentifier(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return false;
        }

        var first = true;
        var index = 0;
        while (index < text.Length)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out var used) != System.Buffers.OperationStatus.Done)
            {
                return false; // a lone surrogate
            }

            var category = Rune.GetUnicodeCategory(rune);
            var ok = rune.Value == '_' || category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
                or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
                or UnicodeCategory.LetterNumber;
            if (!first)
            {
                ok |= category is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.NonSpacingMark
                    or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.ConnectorPunctuation;
            }

            if (!ok)
            {
                return false;
            }

            first = false;
            index += used;
        }

        return true;
    }

    private static void CheckHash(TahoeDict doc, bool hashable, List<string> problems)
    {
        string? stored = null;
        if (!doc.TryGet("_hash", out var hashValue))
        {
            problems.Add("'_hash' is missing");
        }
        else if (hashValue is not TahoeString { Value: var text })
        {
            problems.Add($"'_hash' must be a string, got {Show(hashValue)}");
        }
        else if (!IsLowerHexHash(text))
        {
            problems.Add($"'_hash' must be 64 lowercase hex digits, got {Quote(text)}");
            stored = InstanceHash.TryParse(text, out var parsed) ? parsed.Value : null;
        }
        else
        {
            stored = text;
        }

        if (!hashable)
        {
            return;
        }

        Span<byte> recomputed = stackalloc byte[32];
        try
        {
            // Hashes the unique text straight from a pooled buffer, without building it as a string.
            if (!UniqueText.TryComputeDigest(doc, recomputed, out var error))
            {
                problems.Add($"'_hash' cannot be recomputed: {error}");
                return;
            }
        }
        catch (ArgumentException)
        {
            problems.Add("'_hash' cannot be recomputed: the content holds a lone surrogate, which UTF-8 cannot encode");
            return;
        }

        // An upper-case copy of the right hash is reported once, as a format problem above. `stored` is 64 lowercase
        // hex digits here, so it names the recomputed hash exactly when it decodes to the same bytes.
        Span<byte> statedBytes = stackalloc byte[32];
        if (stored is not null && (Convert.FromHexString(stored, statedBytes, out _, out _) != System.Buffers.OperationStatus.Done
                                   || !statedBytes.SequenceEqual(recomputed)))
        {
            problems.Add($"'_hash' does not match the content: recomputed {Convert.ToHexStringLower(recomputed)}");
        }
    }

    private static void CheckEdges(TahoeDict doc, List<string> problems)
    {
        // The valid hashes of each edge list are the string items that are 64 lowercase hex digits; the subset rules
        // below only look at those. The lists are short (a few to a few dozen items), so membership is a linear scan
        // unless a list is long enough for a set to pay off.
        TahoeList? cref = null, refs = null, benRef = null, malRef = null;
        foreach (var name in EdgeLists)
        {
            if (!doc.TryGet(name, out var value))
            {
                continue;
            }

            if (value is not TahoeList list)
            {
                problems.Add($"'{name}' must be a list of hashes, got {Show(value)}");
                continue;
            }

            for (var i = 0; i < list.Count; i++)
            {
                if (!IsHash(list[i]))
                {
                    problems.Add($"'{name}'[{i}] is not 64 lowercase hex digits: {Show(list[i])}");
                }
            }

            switch (name)
            {
                case "_cref": cref = list; break;
                case "_ref": refs = list; break;
                case "_ben_ref": benRef = list; break;
                default: malRef = list; break;
            }
        }

        var inRefs = new Membership(refs);
        foreach (var (name, list) in (ReadOnlySpan<(string, TahoeList?)>)[("_cref", cref), ("_ben_ref", benRef), ("_mal_ref", malRef)])
        {
            if (list is null)
            {
                continue;
            }

            foreach (var item in list.Items)
            {
                if (item is TahoeString { Value: var h } && IsLowerHexHash(h) && !inRefs.Contains(h))
                {
                    problems.Add($"'{name}' holds {h}, which is not in '_ref'");
                }
            }
        }

        if (malRef is null || benRef is null)
        {
            return;
        }

        var benign = new Membership(benRef);
        var malicious = malRef.Items;
        for (var i = 0; i < malicious.Length; i++)
        {
            // Each distinct malicious hash once, at its first occurrence.
            if (malicious[i] is TahoeString { Value: var h } && IsLowerHexHash(h) && benign.Contains(h) && !OccursBefore(malicious, i, h))
            {
                problems.Add($"{h} is in both '_ben_ref' and '_mal_ref'");
            }
        }
    }

    private static bool IsHash(TahoeValue item) => item is TahoeString { Value: var h } && IsLowerHexHash(h);

    private static bool OccursBefore(System.Collections.Immutable.ImmutableArray<TahoeValue> items, int index, string h)
    {
        for (var j = 0; j < index; j++)
        {
            if (items[j] is TahoeString { Value: var other } && string.Equals(other, h, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Is a hash among the valid hashes of an edge list (none when the list is absent)?</summary>
    private readonly struct Membership
    {
        private const int ScanUpTo = 32;

        private readonly TahoeList? _list;
        private readonly HashSet<string>? _set;

        public Membership(TahoeList? list)
        {
            _list = list;
            if (list is { Count: > ScanUpTo })
            {
                _set = new HashSet<string>(list.Count, StringComparer.Ordinal);
                foreach (var item in list.Items)
                {
                    if (item is TahoeString { Value: var h } && IsLowerHexHash(h))
                    {
                        _set.Add(h);
                    }
                }
            }
        }

        // `h` is a valid hash, so any string item equal to it is valid too.
        public bool Contains(string h)
        {
            if (_set is not null)
            {
                return _set.Contains(h);
            }

            if (_list is null)
            {
                return false;
            }

            foreach (var item in _list.Items)
            {
                if (item is TahoeString { Value: var other } && string.Equals(other, h, StringComparison.Ordinal))
                {
                    return true;
                }
            }

            return false;
        }
    }

    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    private static bool IsLowerHexHash(string text) => text.Length == 64 && !text.AsSpan().ContainsAnyExcept(LowerHex);

    private static string KindName(TahoeValue value) => value.Kind switch
    {
        TahoeKind.Dict => "dict",
        TahoeKind.List => "list",
        var k => k.ToString().ToLowerInvariant(),
    };

    // Values in reasons are shown as compact JSON, cut short so one reason stays one short line.
    private static string Show(TahoeValue? value)
    {
        if (value is null)
        {
            return "nothing (missing)";
        }

        var text = TahoeJsonWriter.Write(value);
        return text.Length <= 80 ? text : string.Concat(text.AsSpan(0, 77), "...");
    }

    private static string Quote(string text) => Show(TahoeValue.String(text));
}
