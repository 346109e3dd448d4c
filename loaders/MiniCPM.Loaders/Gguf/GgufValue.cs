using System.Runtime.InteropServices;

namespace MiniCPM.Loaders.Gguf;

/// <summary>
/// One immutable GGUF metadata value: a scalar, a string, or an array of one element type (arrays of arrays
/// included). Typed accessors convert where that is lossless and throw where it is not.
/// Build values with the <c>From…</c> factories; read them from <see cref="GgufFile.Metadata"/>.
/// </summary>
public sealed partial class GgufValue
{
    /// <summary>Deepest array nesting read or written: an array (1) of arrays (2) of arrays (3) of arrays (4).</summary>
    public const int MaxArrayDepth = 4;

    // Fixed-size scalars: the integer value (sign-extended for signed types, zero-extended for unsigned ones) or the
    // IEEE-754 bits of a float. Keeping bits, not a double, makes equality exact (NaN payloads, -0.0).
    private readonly ulong _bits;

    // A string for String values; for arrays the typed CLR array of ElementType.ClrType() (byte[], string[], …).
    private readonly object? _payload;

    private GgufValue(GgufValueType type, GgufValueType? elementType, ulong bits, object? payload)
    {
        Type = type;
        ElementType = elementType;
        _bits = bits;
        _payload = payload;
    }

    public GgufValueType Type { get; }

    /// <summary>The type of the elements of an array; null for any other value.</summary>
    public GgufValueType? ElementType { get; }

    public bool IsArray => Type == GgufValueType.Array;

    /// <summary>Number of elements of an array.</summary>
    public int ArrayLength => IsArray ? ((Array)_payload!).Length : throw Mismatch("an array");

    public string AsString() => Type == GgufValueType.String ? (string)_payload! : throw Mismatch("a string");

    public bool AsBool() => Type == GgufValueType.Bool ? _bits != 0 : throw Mismatch("a bool");

    /// <summary>Any integer type as int64; throws <see cref="OverflowException"/> for a u64 above int64's range.</summary>
    public long AsInt64()
    {
        if (!Type.IsInteger()) throw Mismatch("an integer");
        if (Type == GgufValueType.UInt64 && _bits > long.MaxValue)
            throw new OverflowException($"u64 {_bits} does not fit an int64");
        return (long)_bits;
    }

    /// <summary>Any integer type as int32, checked.</summary>
    public int AsInt32()
    {
        long value = AsInt64();
        return value is >= int.MinValue and <= int.MaxValue ? (int)value
            : throw new OverflowException($"{Type.ShortName()} {value} does not fit an int32");
    }

    /// <summary>Any integer type as uint64; throws <see cref="OverflowException"/> for a negative value.</summary>
    public ulong AsUInt64()
    {
        if (!Type.IsInteger()) throw Mismatch("an integer");
        if (IsSigned(Type) && (long)_bits < 0)
            throw new OverflowException($"{Type.ShortName()} {(long)_bits} is negative");
        return _bits;
    }

    /// <summary>Any numeric type (integers and floats) as a double.</summary>
    public double AsDouble() => Type switch
    {
        GgufValueType.Float32 => BitConverter.UInt32BitsToSingle((uint)_bits),
        GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(_bits),
        GgufValueType.UInt64 => _bits,
        _ when Type.IsInteger() => (long)_bits,
        _ => throw Mismatch("a number"),
    };

    /// <summary>
    /// The elements of an array whose CLR element type is exactly <typeparamref name="T"/> (byte for u8, sbyte for
    /// i8, …, float for f32, bool, string, GgufValue for nested arrays), without copying.
    /// </summary>
    public ReadOnlySpan<T> AsSpan<T>()
    {
        if (!IsArray || ElementType!.Value.ClrType() != typeof(T))
            throw Mismatch($"an array of {typeof(T).Name}");
        return (T[])_payload!;
    }

    /// <summary>A copy of the elements of an array of exactly <typeparamref name="T"/> (see <see cref="AsSpan{T}"/>).</summary>
    public T[] AsArray<T>() => AsSpan<T>().ToArray();

    /// <summary>Depth of array nesting: 0 for a scalar or string, 1 for a flat array, 1 + the deepest element for nested ones.</summary>
    public int ArrayDepth
    {
        get
        {
            if (!IsArray) return 0;
            int deepest = 0;
            if (_payload is GgufValue[] elements)
                foreach (var element in elements) deepest = Math.Max(deepest, element.ArrayDepth);
            return 1 + deepest;
        }
    }

    internal ulong ScalarBits => _bits;

    internal Array ArrayPayload => (Array)_payload!;

    /// <summary>The raw little-endian bytes of an array of fixed-size elements (the host is little-endian).</summary>
    internal ReadOnlySpan<byte> FixedArrayBytes()
    {
        var array = ArrayPayload;
        return MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(array), Buffer.ByteLength(array));
    }

    private static bool IsSigned(GgufValueType type) =>
        type is GgufValueType.Int8 or GgufValueType.Int16 or GgufValueType.Int32 or GgufValueType.Int64;

    private InvalidOperationException Mismatch(string wanted) =>
        new($"the value is {Describe()}, not {wanted}");

    private string Describe() => IsArray ? $"an array of {ElementType!.Value.ShortName()}" : $"a {Type.ShortName()}";
}
