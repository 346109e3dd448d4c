namespace MiniCPM.Loaders.Gguf;

/// <summary>The type id written before every GGUF metadata value (gguf.md, "gguf_metadata_value_type").</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    /// <summary>One byte; 0 is false. Writers emit 0 or 1; like ggml, readers take any non-zero byte as true.</summary>
    Bool = 7,
    /// <summary>u64 byte length + UTF-8 bytes, no terminator.</summary>
    String = 8,
    /// <summary>u32 element type + u64 count + elements. Arrays of arrays are allowed by the spec.</summary>
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>Facts about each <see cref="GgufValueType"/>.</summary>
public static class GgufValueTypeInfo
{
    /// <summary>True for the ids 0..12 defined by the spec.</summary>
    public static bool IsDefined(GgufValueType type) => (uint)type <= (uint)GgufValueType.Float64;

    /// <summary>Encoded size of a fixed-size value, or null for strings and arrays.</summary>
    public static int? FixedSize(this GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => null,
    };

    /// <summary>
    /// The fewest bytes one value of this type can occupy: its size, 8 for a string (the length), 12 for an array
    /// (element type + count). Readers bound element counts by it before allocating anything.
    /// </summary>
    public static int MinimumEncodedSize(this GgufValueType type) => type switch
    {
        GgufValueType.String => 8,
        GgufValueType.Array => 12,
        _ => type.FixedSize() ?? throw new ArgumentOutOfRangeException(nameof(type), type, "not a GGUF value type"),
    };

    public static bool IsInteger(this GgufValueType type) => type is GgufValueType.UInt8 or GgufValueType.Int8
        or GgufValueType.UInt16 or GgufValueType.Int16 or GgufValueType.UInt32 or GgufValueType.Int32
        or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>Short name used in messages and summaries: u8, i32, f32, string, array, …</summary>
    public static string ShortName(this GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "u8",
        GgufValueType.Int8 => "i8",
        GgufValueType.UInt16 => "u16",
        GgufValueType.Int16 => "i16",
        GgufValueType.UInt32 => "u32",
        GgufValueType.Int32 => "i32",
        GgufValueType.Float32 => "f32",
        GgufValueType.Bool => "bool",
        GgufValueType.String => "string",
        GgufValueType.Array => "array",
        GgufValueType.UInt64 => "u64",
        GgufValueType.Int64 => "i64",
        GgufValueType.Float64 => "f64",
        _ => $"type#{(uint)type}",
    };

    /// <summary>The CLR element type an array of this GGUF type is held as (byte[] for UInt8, GgufValue[] for Array, …).</summary>
    public static Type ClrType(this GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.Array => typeof(GgufValue),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a GGUF value type"),
    };
}
