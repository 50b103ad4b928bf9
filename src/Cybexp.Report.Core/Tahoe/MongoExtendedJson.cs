using System.Globalization;
using System.Numerics;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>
/// Turns MongoDB Extended JSON wrappers (as <c>mongoexport</c> writes them) into plain values, keeping ints and
/// doubles distinct: <c>{"$numberLong":"5"}</c> and <c>{"$numberInt":"5"}</c> are ints, <c>{"$numberDouble":"5.0"}</c>
/// (also <c>"NaN"</c>, <c>"Infinity"</c>, <c>"-Infinity"</c>) is a float.
/// </summary>
public static class MongoExtendedJson
{
    /// <summary>A copy of <paramref name="value"/> with every wrapper replaced by its plain value.</summary>
    /// <exception cref="FormatException">A wrapper holds something that is not a number of its kind.</exception>
    public static TahoeValue Normalize(TahoeValue value) => value switch
    {
        TahoeDict d when d.Count == 1 && TryUnwrap(d.Entries[0], out var plain) => plain,
        TahoeDict d => TahoeDict.From(d.Entries.Select(e => new KeyValuePair<string, TahoeValue>(e.Key, Normalize(e.Value)))),
        TahoeList l => TahoeValue.List(l.Items.Select(Normalize)),
        _ => value,
    };

    private static bool TryUnwrap(KeyValuePair<string, TahoeValue> entry, out TahoeValue plain)
    {
        plain = TahoeValue.Null;
        switch (entry.Key)
        {
            case "$numberLong":
            case "$numberInt":
                if (entry.Value is TahoeString si &&
                    BigInteger.TryParse(si.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i))
                {
                    plain = TahoeValue.Int(i);
                    return true;
                }

                throw new FormatException($"{entry.Key} must hold an integer in a string, got {entry.Value}");
            case "$numberDouble":
                if (entry.Value is TahoeString sd)
                {
                    var d = sd.Value switch
                    {
                        "NaN" => double.NaN,
                        "Infinity" => double.PositiveInfinity,
                        "-Infinity" => double.NegativeInfinity,
                        _ => double.TryParse(sd.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ? x : (double?)null,
                    };
                    if (d is { } dv)
                    {
                        plain = TahoeValue.Float(dv);
                        return true;
                    }
                }

                throw new FormatException($"$numberDouble must hold a number in a string, got {entry.Value}");
            default:
                return false;
        }
    }
}
