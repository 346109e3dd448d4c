using System.Runtime.InteropServices;

namespace MiniCPM.Loaders.Gguf;

/// <summary>
/// Decodes metadata values (gguf.md "gguf_metadata_value_t"). Element counts are bounded by the bytes left in the
/// file divided by the smallest encoding of one element, so no count makes the reader allocate more than the file
/// could describe; array nesting is bounded by <see cref="GgufValue.MaxArrayDepth"/>.
/// </summary>
internal static class GgufMetadataReader
{
    /// <summary>Reads the value type id and the value of one key/value pair.</summary>
    public static GgufValue ReadValue(GgufCursor cursor, string key)
    {
        long at = cursor.Position;
        var type = (GgufValueType)cursor.ReadU32($"metadata key '{key}' (value type)");
        if (!GgufValueTypeInfo.IsDefined(type))
            throw cursor.Error($"metadata key '{key}' has unknown value type {(uint)type}", offset: at);
        return type == GgufValueType.Array ? ReadArray(cursor, key, depth: 1) : ReadScalarOrString(cursor, key, type);
    }

    private static GgufValue ReadScalarOrString(GgufCursor cursor, string key, GgufValueType type)
    {
        string what = $"metadata key '{key}' ({type.ShortName()} value)";
        return type switch
        {
            GgufValueType.String => GgufValue.StringWithoutCheck(cursor.ReadString(what)),
            GgufValueType.Bool => GgufValue.Scalar(type, cursor.ReadU8(what) != 0 ? 1UL : 0UL),
            GgufValueType.UInt8 => GgufValue.Scalar(type, cursor.ReadU8(what)),
            GgufValueType.Int8 => GgufValue.Scalar(type, (ulong)(long)(sbyte)cursor.ReadU8(what)),
            GgufValueType.UInt16 => GgufValue.Scalar(type, MemoryMarshal.Read<ushort>(cursor.Take(2, what))),
            GgufValueType.Int16 => GgufValue.Scalar(type, (ulong)(long)MemoryMarshal.Read<short>(cursor.Take(2, what))),
            GgufValueType.UInt32 or GgufValueType.Float32 => GgufValue.Scalar(type, cursor.ReadU32(what)),
            GgufValueType.Int32 => GgufValue.Scalar(type, (ulong)(long)(int)cursor.ReadU32(what)),
            _ => GgufValue.Scalar(type, cursor.ReadU64(what)), // UInt64, Int64, Float64
        };
    }

    private static GgufValue ReadArray(GgufCursor cursor, string key, int depth)
    {
        long at = cursor.Position;
        if (depth > GgufValue.MaxArrayDepth)
            throw cursor.Error($"metadata key '{key}': arrays nest deeper than {GgufValue.MaxArrayDepth} levels", offset: at);

        var elementType = (GgufValueType)cursor.ReadU32($"metadata key '{key}' (array element type)");
        if (!GgufValueTypeInfo.IsDefined(elementType))
            throw cursor.Error($"metadata key '{key}': unknown array element type {(uint)elementType}", offset: at);

        ulong count = cursor.ReadU64($"metadata key '{key}' (array length)");
        int smallest = elementType.MinimumEncodedSize();
        if (count > (ulong)(cursor.Remaining / smallest) || count > (ulong)Array.MaxLength)
            throw cursor.Error($"metadata key '{key}': an array of {count} {elementType.ShortName()} elements cannot fit in the {cursor.Remaining} bytes left", offset: at);
        int n = (int)count;
        string what = $"metadata key '{key}' (array of {n} {elementType.ShortName()})";

        Array elements = elementType switch
        {
            GgufValueType.UInt8 => ReadFixed<byte>(cursor, n, what),
            GgufValueType.Int8 => ReadFixed<sbyte>(cursor, n, what),
            GgufValueType.UInt16 => ReadFixed<ushort>(cursor, n, what),
            GgufValueType.Int16 => ReadFixed<short>(cursor, n, what),
            GgufValueType.UInt32 => ReadFixed<uint>(cursor, n, what),
            GgufValueType.Int32 => ReadFixed<int>(cursor, n, what),
            GgufValueType.Float32 => ReadFixed<float>(cursor, n, what),
            GgufValueType.UInt64 => ReadFixed<ulong>(cursor, n, what),
            GgufValueType.Int64 => ReadFixed<long>(cursor, n, what),
            GgufValueType.Float64 => ReadFixed<double>(cursor, n, what),
            GgufValueType.Bool => ReadBools(cursor, n, what),
            GgufValueType.String => ReadStrings(cursor, n, key),
            _ => ReadNested(cursor, n, key, depth),
        };
        return GgufValue.ArrayWithoutCopy(elementType, elements);
    }

    // The file is little-endian and so is every host .NET runs this engine on (checked in GgufFile), so the bytes
    // are the array.
    private static T[] ReadFixed<T>(GgufCursor cursor, int count, string what) where T : unmanaged
    {
        var bytes = cursor.Take((long)count * System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), what);
        var elements = new T[count];
        bytes.CopyTo(MemoryMarshal.AsBytes(elements.AsSpan()));
        return elements;
    }

    private static bool[] ReadBools(GgufCursor cursor, int count, string what)
    {
        var bytes = cursor.Take(count, what);
        var elements = new bool[count];
        for (int i = 0; i < count; i++) elements[i] = bytes[i] != 0;
        return elements;
    }

    // Strings and nested arrays are variable-size, so their count is only an upper bound until each element is
    // read: collect them in a list that grows with what the file really holds.
    private static string[] ReadStrings(GgufCursor cursor, int count, string key)
    {
        var elements = new List<string>(GgufHeaderReader.InitialCapacity(count));
        for (int i = 0; i < count; i++) elements.Add(cursor.ReadString($"metadata key '{key}' (string #{i})"));
        return [.. elements];
    }

    private static GgufValue[] ReadNested(GgufCursor cursor, int count, string key, int depth)
    {
        var elements = new List<GgufValue>(GgufHeaderReader.InitialCapacity(count));
        for (int i = 0; i < count; i++) elements.Add(ReadArray(cursor, key, depth + 1));
        return [.. elements];
    }
}
