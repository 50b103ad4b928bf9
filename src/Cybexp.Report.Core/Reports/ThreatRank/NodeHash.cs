using System.Globalization;

namespace Cybexp.Report.Core.Reports.ThreatRank;

/// <summary>
/// A 256-bit document hash held as four big-endian words, so that ordering the words
/// orders the lowercase hex texts. Compact (32 bytes) where a string costs about 150.
/// </summary>
internal readonly record struct NodeHash(ulong W0, ulong W1, ulong W2, ulong W3) : IComparable<NodeHash>
{
    public const int HexLength = 64;

    /// <summary>Parses 64 hex digits in either case; anything else fails.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out NodeHash hash)
    {
        hash = default;
        if (text.Length != HexLength)
        {
            return false;
        }

        Span<ulong> words = stackalloc ulong[4];
        for (var w = 0; w < 4; w++)
        {
            ulong value = 0;
            for (var i = 0; i < 16; i++)
            {
                var nibble = HexValue(text[(w * 16) + i]);
                if (nibble < 0)
                {
                    return false;
                }

                value = (value << 4) | (uint)nibble;
            }

            words[w] = value;
        }

        hash = new NodeHash(words[0], words[1], words[2], words[3]);
        return true;
    }

    public int CompareTo(NodeHash other)
    {
        var c = W0.CompareTo(other.W0);
        if (c != 0)
        {
            return c;
        }

        c = W1.CompareTo(other.W1);
        if (c != 0)
        {
            return c;
        }

        c = W2.CompareTo(other.W2);
        return c != 0 ? c : W3.CompareTo(other.W3);
    }

    /// <summary>The lowercase 64-digit hex text.</summary>
    public override string ToString() => string.Create(HexLength, this, static (span, h) =>
    {
        h.W0.TryFormat(span[..16], out _, "x16", CultureInfo.InvariantCulture);
        h.W1.TryFormat(span[16..32], out _, "x16", CultureInfo.InvariantCulture);
        h.W2.TryFormat(span[32..48], out _, "x16", CultureInfo.InvariantCulture);
        h.W3.TryFormat(span[48..], out _, "x16", CultureInfo.InvariantCulture);
    });

    internal static NodeHash Read(ulong[] words, int index)
    {
        var o = index * 4;
        return new NodeHash(words[o], words[o + 1], words[o + 2], words[o + 3]);
    }

    internal void Write(ulong[] words, int index)
    {
        var o = index * 4;
        words[o] = W0;
        words[o + 1] = W1;
        words[o + 2] = W2;
        words[o + 3] = W3;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
