using System.Text;

namespace MiniCPM.Loaders.Gguf;

/// <summary>Factories for every GGUF value type. Arrays are copied, so a value never changes after it is made.</summary>
public sealed partial class GgufValue
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static GgufValue FromUInt8(byte value) => Scalar(GgufValueType.UInt8, value);
    public static GgufValue FromInt8(sbyte value) => Scalar(GgufValueType.Int8, (ulong)(long)value);
    public static GgufValue FromUInt16(ushort value) => Scalar(GgufValueType.UInt16, value);
    public static GgufValue FromInt16(short value) => Scalar(GgufValueType.Int16, (ulong)(long)value);
    public static GgufValue FromUInt32(uint value) => Scalar(GgufValueType.UInt32, value);
    public static GgufValue FromInt32(int value) => Scalar(GgufValueType.Int32, (ulong)(long)value);
    public static GgufValue FromFloat32(float value) => Scalar(GgufValueType.Float32, BitConverter.SingleToUInt32Bits(value));
    public static GgufValue FromBool(bool value) => Scalar(GgufValueType.Bool, value ? 1UL : 0UL);
    public static GgufValue FromUInt64(ulong value) => Scalar(GgufValueType.UInt64, value);
    public static GgufValue FromInt64(long value) => Scalar(GgufValueType.Int64, (ulong)value);
    public static GgufValue FromFloat64(double value) => Scalar(GgufValueType.Float64, BitConverter.DoubleToUInt64Bits(value));

    /// <summary>A string; it must be valid Unicode (no lone surrogates) so that it survives UTF-8 encoding.</summary>
    public static GgufValue FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        RequireEncodable(value, nameof(value));
        return new GgufValue(GgufValueType.String, null, 0, value);
    }

    public static GgufValue FromArray(byte[] values) => CopyOf(GgufValueType.UInt8, values);
    public static GgufValue FromArray(sbyte[] values) => CopyOf(GgufValueType.Int8, values);
    public static GgufValue FromArray(ushort[] values) => CopyOf(GgufValueType.UInt16, values);
    public static GgufValue FromArray(short[] values) => CopyOf(GgufValueType.Int16, values);
    public static GgufValue FromArray(uint[] values) => CopyOf(GgufValueType.UInt32, values);
    public static GgufValue FromArray(int[] values) => CopyOf(GgufValueType.Int32, values);
    public static GgufValue FromArray(float[] values) => CopyOf(GgufValueType.Float32, values);
    public static GgufValue FromArray(bool[] values) => CopyOf(GgufValueType.Bool, values);
    public static GgufValue FromArray(ulong[] values) => CopyOf(GgufValueType.UInt64, values);
    public static GgufValue FromArray(long[] values) => CopyOf(GgufValueType.Int64, values);
    public static GgufValue FromArray(double[] values) => CopyOf(GgufValueType.Float64, values);

    public static GgufValue FromArray(string[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        foreach (var s in values)
        {
            if (s is null) throw new ArgumentException("an array of strings cannot hold null", nameof(values));
            RequireEncodable(s, nameof(values));
        }
        return CopyOf(GgufValueType.String, values);
    }

    /// <summary>An array of arrays (each element an array value, element types may differ), at most <see cref="MaxArrayDepth"/> deep.</summary>
    public static GgufValue FromArray(GgufValue[] arrays)
    {
        ArgumentNullException.ThrowIfNull(arrays);
        foreach (var element in arrays)
        {
            if (element is null || !element.IsArray)
                throw new ArgumentException("every element of an array of arrays must be an array value", nameof(arrays));
        }
        var value = CopyOf(GgufValueType.Array, arrays);
        if (value.ArrayDepth > MaxArrayDepth)
            throw new ArgumentException($"arrays nest {value.ArrayDepth} deep; at most {MaxArrayDepth} are allowed", nameof(arrays));
        return value;
    }

    // Reader-side constructors: the reader has already decoded and owns these objects, so no copy.
    internal static GgufValue Scalar(GgufValueType type, ulong bits) => new(type, null, bits, null);
    internal static GgufValue StringWithoutCheck(string value) => new(GgufValueType.String, null, 0, value);
    internal static GgufValue ArrayWithoutCopy(GgufValueType elementType, Array elements) => new(GgufValueType.Array, elementType, 0, elements);

    private static GgufValue CopyOf<T>(GgufValueType elementType, T[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new GgufValue(GgufValueType.Array, elementType, 0, values.AsSpan().ToArray());
    }

    private static void RequireEncodable(string s, string parameter)
    {
        try { StrictUtf8.GetByteCount(s); }
        catch (EncoderFallbackException e) { throw new ArgumentException("the string is not valid Unicode (lone surrogate)", parameter, e); }
    }
}
