using System.Collections.Immutable;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Cybexp.Report.Core.Tahoe;

/// <summary>The kind of a <see cref="TahoeValue"/>; mirrors the Python types the original stores.</summary>
public enum TahoeKind
{
    /// <summary>Python <c>None</c>.</summary>
    Null,
    /// <summary>Python <c>bool</c>.</summary>
    Bool,
    /// <summary>Python <c>int</c> of any size; never equal to a float.</summary>
    Int,
    /// <summary>Python <c>float</c> (IEEE double, NaN and infinities included).</summary>
    Float,
    /// <summary>Python <c>str</c> (UTF-16 here; lone surrogates are representable).</summary>
    String,
    /// <summary>Python <c>list</c>.</summary>
    List,
    /// <summary>Python <c>dict</c> with string keys, in insertion order.</summary>
    Dict,
}

/// <summary>
/// An immutable JSON value that keeps the distinctions the original Python code relies on:
/// <c>1</c> (int) and <c>1.0</c> (float) are different values, ints have no size limit and
/// floats may be NaN or infinite. Equality is structural; dict equality ignores key order.
/// </summary>
public abstract class TahoeValue : IEquatable<TahoeValue>
{
    private protected TahoeValue()
    {
    }

    /// <summary>The Python type this value stands for.</summary>
    public abstract TahoeKind Kind { get; }

    /// <summary>Python <c>None</c>.</summary>
    public static TahoeValue Null { get; } = new TahoeNull();

    /// <summary>Python <c>True</c>.</summary>
    public static TahoeValue True { get; } = new TahoeBool(true);

    /// <summary>Python <c>False</c>.</summary>
    public static TahoeValue False { get; } = new TahoeBool(false);

    /// <summary>A bool value.</summary>
    public static TahoeValue Bool(bool value) => value ? True : False;

    /// <summary>An int value.</summary>
    public static TahoeValue Int(long value) => new TahoeInt(value);

    /// <summary>An int value of any size.</summary>
    public static TahoeValue Int(BigInteger value) => new TahoeInt(value);

    /// <summary>A float value.</summary>
    public static TahoeValue Float(double value) => new TahoeFloat(value);

    /// <summary>A string value.</summary>
    public static TahoeValue String(string value) => new TahoeString(value);

    /// <summary>A list value.</summary>
    public static TahoeValue List(IEnumerable<TahoeValue> items) => new TahoeList([.. items]);

    /// <summary>A list value.</summary>
    public static TahoeValue List(params ReadOnlySpan<TahoeValue> items) => new TahoeList([.. items]);

    /// <summary>A dict value; later duplicates of a key replace earlier ones in place, as in Python.</summary>
    public static TahoeValue Dict(IEnumerable<KeyValuePair<string, TahoeValue>> entries) => TahoeDict.From(entries);

    /// <summary>A dict value built from (key, value) tuples.</summary>
    public static TahoeValue Dict(params ReadOnlySpan<(string Key, TahoeValue Value)> entries)
    {
        var list = new List<KeyValuePair<string, TahoeValue>>(entries.Length);
        foreach (var (k, v) in entries)
        {
            list.Add(new(k, v));
        }

        return TahoeDict.From(list);
    }

    /// <summary>This value as a string, or throws when it is not one.</summary>
    public string AsString => this is TahoeString s ? s.Value : throw WrongKind(TahoeKind.String);

    /// <summary>This value as a list, or throws when it is not one.</summary>
    public TahoeList AsList => this as TahoeList ?? throw WrongKind(TahoeKind.List);

    /// <summary>This value as a dict, or throws when it is not one.</summary>
    public TahoeDict AsDict => this as TahoeDict ?? throw WrongKind(TahoeKind.Dict);

    /// <inheritdoc />
    public abstract bool Equals(TahoeValue? other);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is TahoeValue v && Equals(v);

    /// <inheritdoc />
    public abstract override int GetHashCode();

    /// <summary>Compact JSON text; see <see cref="TahoeJsonWriter"/>.</summary>
    public override string ToString() => TahoeJsonWriter.Write(this);

    private InvalidOperationException WrongKind(TahoeKind wanted) =>
        new($"expected a {wanted.ToString().ToLowerInvariant()}, got a {Kind.ToString().ToLowerInvariant()}");
}

/// <summary>Python <c>None</c>.</summary>
public sealed class TahoeNull : TahoeValue
{
    internal TahoeNull()
    {
    }

    /// <inheritdoc />
    public override TahoeKind Kind => TahoeKind.Null;

    /// <inheritdoc />
    public override bool Equals(TahoeValue? other) => other is TahoeNull;

    /// <inheritdoc />
    public override int GetHashCode() => 0x4e4f4e45;
}

/// <summary>Python <c>bool</c>.</summary>
public sealed class TahoeBool : TahoeValue
{
    internal TahoeBool(bool value) => Value = value;

    /// <summary>The value.</summary>
    public bool Value { get; }

    /// <inheritdoc />
    public override TahoeKind Kind => TahoeKind.Bool;

    /// <inheritdoc />
    public override bool Equals(TahoeValue? other) => other is TahoeBool b && b.Value == Value;

    /// <inheritdoc />
    public override int GetHashCode() => Value ? 1 : 2;
}

/// <summary>Python <c>int</c>, of any size.</summary>
public sealed class TahoeInt : TahoeValue
{
    private readonly long _small;
    private readonly BigInteger? _big;

    internal TahoeInt(long value) => _small = value;

    internal TahoeInt(BigInteger value)
    {
        if (value >= long.MinValue && value <= long.MaxValue)
        {
            _small = (long)value;
        }
        else
        {
            _big = value;
        }
    }

    /// <inheritdoc />
    public override TahoeKind Kind => TahoeKind.Int;

    /// <summary>The value.</summary>
    public BigInteger Value => _big ?? _small;

    /// <summary>True when the value fits in a <see cref="long"/>.</summary>
    public bool FitsInt64 => _big is null;

    /// <summary>The value as a long; throws <see cref="OverflowException"/> when it does not fit.</summary>
    public long Int64 => _big is null ? _small : throw new OverflowException($"integer {_big} does not fit in 64 bits");

    /// <summary>The decimal digits, as Python's <c>str(int)</c>.</summary>
    public string Digits => _big is { } b ? b.ToString(CultureInfo.InvariantCulture) : _small.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public override bool Equals(TahoeValue? other) => other is TahoeInt i && i._small == _small && Nullable.Equals(i._big, _big);

    /// <inheritdoc />
    public override int GetHashCode() => _big?.GetHashCode() ?? _small.GetHashCode();
}

/// <summary>Python <c>float</c>.</summary>
public sealed class TahoeFloat : TahoeValue
{
    internal TahoeFloat(double value) => Value = value;

    /// <summary>The value.</summary>
    public double Value { get; }

    /// <inheritdoc />
    public override TahoeKind Kind => TahoeKind.Float;

    /// <inheritdoc />
    // Bitwise equality keeps -0.0 and 0.0 apart (they canonicalise differently) and NaN equal to itself.
    public override bool Equals(TahoeValue? other) =>
        other is TahoeFloat f && (BitConverter.DoubleToInt64Bits(f.Value) == BitConverter.DoubleToInt64Bits(Value) || (double.IsNaN(f.Value) && double.IsNaN(Value)));

    /// <inheritdoc />
    public override int GetHashCode() => double.IsNaN(Value) ? 0x7ff8 : BitConverter.DoubleToInt64Bits(Value).GetHashCode();
}

/// <summary>Python <c>str</c>.</summary>
public sealed class TahoeString : TahoeValue
{
    internal TahoeString(string value) => Value = value ?? throw new ArgumentNullException(nameof(value));

    /// <summary>The value.</summary>
    public string Value { get; }

    /// <inheritdoc />
    public override TahoeKind Kind => TahoeKind.String;

    /// <inheritdoc />
    public override bool Equals(TahoeValue? other) => other is TahoeString s && string.Equals(s.Value, Value, StringComparison.Ordinal);

    /// <inheritdoc />
    public override int GetHashCode() => string.GetHashCode(Value, StringComparison.Ordinal);
}

/// <summary>Python <c>list</c>.</summary>
public sealed class TahoeList : TahoeValue
{
    internal TahoeList(ImmutableArray<TahoeValue> items) => Items = items;

    /// <summary>The elements, in order.</summary>
    public ImmutableArray<TahoeValue> Items { get; }

    /// <summary>Number of elements.</summary>
    public int Count => Items.Length;

    /// <summary>Element <paramref name="index"/>.</summary>
    public TahoeValue this[int index] => Items[index];

    /// <inheritdoc />
    public override TahoeKind Kind => TahoeKind.List;

    /// <inheritdoc />
    public override bool Equals(TahoeValue? other)
    {
        if (other is not TahoeList l || l.Items.Length != Items.Length)
        {
            return false;
        }

        for (var i = 0; i < Items.Length; i++)
        {
            if (!Items[i].Equals(l.Items[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var item in Items)
        {
            h.Add(item);
        }

        return h.ToHashCode();
    }
}

/// <summary>Python <c>dict</c> with string keys; keeps insertion order, equality ignores it.</summary>
public sealed class TahoeDict : TahoeValue
{
    private readonly Dictionary<string, int>? _index;

    private TahoeDict(ImmutableArray<KeyValuePair<string, TahoeValue>> entries)
    {
        Entries = entries;
        // Up to 16 keys a linear search is about as fast as hashing the key, and builds nothing.
        if (entries.Length > 16)
        {
            _index = new Dictionary<string, int>(entries.Length, StringComparer.Ordinal);
            for (var i = 0; i < entries.Length; i++)
            {
                _index[entries[i].Key] = i;
            }
        }
    }

    /// <summary>An empty dict.</summary>
    public static TahoeDict Empty { get; } = new([]);

    /// <summary>The entries in insertion order.</summary>
    public ImmutableArray<KeyValuePair<string, TahoeValue>> Entries { get; }

    /// <summary>Number of entries.</summary>
    public int Count => Entries.Length;

    /// <inheritdoc />
    public override TahoeKind Kind => TahoeKind.Dict;

    /// <summary>The value of <paramref name="key"/>, or null when absent.</summary>
    public TahoeValue? this[string key] => TryGet(key, out var v) ? v : null;

    /// <summary>Builds a dict; a repeated key keeps its first position and takes the last value (Python semantics).</summary>
    public static TahoeDict From(IEnumerable<KeyValuePair<string, TahoeValue>> entries)
    {
        var builder = ImmutableArray.CreateBuilder<KeyValuePair<string, TahoeValue>>();
        Dictionary<string, int>? seen = null;
        foreach (var e in entries)
        {
            seen ??= new Dictionary<string, int>(StringComparer.Ordinal);
            if (seen.TryGetValue(e.Key, out var at))
            {
                builder[at] = e;
            }
            else
            {
                seen[e.Key] = builder.Count;
                builder.Add(e);
            }
        }

        return builder.Count == 0 ? Empty : new TahoeDict(builder.ToImmutable());
    }

    /// <summary>Builds a dict from entries whose keys the caller guarantees distinct; takes ownership of the array.</summary>
    internal static TahoeDict FromDistinctKeys(KeyValuePair<string, TahoeValue>[] entries) =>
        entries.Length == 0 ? Empty : new TahoeDict(ImmutableCollectionsMarshal.AsImmutableArray(entries));

    /// <summary>Looks up <paramref name="key"/>.</summary>
    public bool TryGet(string key, out TahoeValue value)
    {
        if (_index is not null)
        {
            if (_index.TryGetValue(key, out var i))
            {
                value = Entries[i].Value;
                return true;
            }
        }
        else
        {
            foreach (var e in Entries)
            {
                if (string.Equals(e.Key, key, StringComparison.Ordinal))
                {
                    value = e.Value;
                    return true;
                }
            }
        }

        value = Null;
        return false;
    }

    /// <summary>True when <paramref name="key"/> is present.</summary>
    public bool ContainsKey(string key) => TryGet(key, out _);

    /// <summary>A copy with <paramref name="key"/> set (appended when new, replaced in place otherwise).</summary>
    public TahoeDict With(string key, TahoeValue value) => From(Entries.Append(new(key, value)));

    /// <summary>A copy without <paramref name="key"/>.</summary>
    public TahoeDict Without(string key) => From(Entries.Where(e => !string.Equals(e.Key, key, StringComparison.Ordinal)));

    /// <inheritdoc />
    public override bool Equals(TahoeValue? other)
    {
        if (other is not TahoeDict d || d.Count != Count)
        {
            return false;
        }

        foreach (var e in Entries)
        {
            if (!d.TryGet(e.Key, out var v) || !v.Equals(e.Value))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override int GetHashCode()
    {
        // Order-independent: XOR of per-entry hashes.
        var h = Count;
        foreach (var e in Entries)
        {
            h ^= HashCode.Combine(string.GetHashCode(e.Key, StringComparison.Ordinal), e.Value);
        }

        return h;
    }
}
