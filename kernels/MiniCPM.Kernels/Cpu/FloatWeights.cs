using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// How a plain floating-point weight dtype is widened to float32 inside a kernel. The dot-product kernels are written
/// once, generic over this interface; the JIT compiles one specialised copy per dtype, so the widening is inlined.
/// </summary>
internal unsafe interface IFloatWeights
{
    /// <summary>The 16 weights starting at element <paramref name="index"/> of <paramref name="row"/>, as float32.</summary>
    static abstract Vector512<float> Load16(byte* row, nint index);

    /// <summary>One weight as float32 (row tails).</summary>
    static abstract float Load1(byte* row, nint index);
}

internal readonly unsafe struct F32Weights : IFloatWeights
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index) => Vector512.Load((float*)row + index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => ((float*)row)[index];
}

/// <summary>bfloat16 is the top half of a float32: widening is a 16-bit shift.</summary>
internal readonly unsafe struct BF16Weights : IFloatWeights
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index) =>
        Vector512.ShiftLeft(HalfWords.Widen16((ushort*)row + index), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => BitConverter.Int32BitsToSingle(((ushort*)row)[index] << 16);
}

/// <summary>
/// IEEE binary16 to float32, exactly, with integer and float lane operations (.NET exposes no vcvtph2ps).
/// Exponent and mantissa are moved into float32's positions, then one multiply by 2^112 re-biases the exponent
/// (15 → 127) — which also turns half subnormals (which land as float32 subnormals) into the right normal values.
/// Infinity and NaN (half exponent 31) would come out as 65536·(1+m); they are recognised and given exponent 255.
/// </summary>
internal readonly unsafe struct F16Weights : IFloatWeights
{
    private const uint SignMask = 0x8000;
    private const uint MagnitudeMask = 0x7FFF;
    private const float ExponentRebias = 5.192297e33f; // 2^112 = 2^(127 − 15)
    private const uint HalfInfinityAsFloat = 0x0F800000; // half exponent 31 after the 13-bit shift
    private const uint FloatExponentMask = 0x7F800000;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index)
    {
        Vector512<uint> h = HalfWords.Widen16((ushort*)row + index);
        Vector512<uint> shifted = Vector512.ShiftLeft(h & Vector512.Create(MagnitudeMask), 13);
        Vector512<float> magnitude = shifted.AsSingle() * Vector512.Create(ExponentRebias);
        Vector512<uint> isInfOrNaN = Vector512.GreaterThanOrEqual(shifted, Vector512.Create(HalfInfinityAsFloat));
        Vector512<uint> bits = magnitude.AsUInt32() | (isInfOrNaN & Vector512.Create(FloatExponentMask));
        return (bits | Vector512.ShiftLeft(h & Vector512.Create(SignMask), 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => (float)((Half*)row)[index];
}

internal static unsafe class HalfWords
{
    /// <summary>16 consecutive 16-bit words zero-extended to 32-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> Widen16(ushort* p)
    {
        if (Avx512F.IsSupported) return Avx512F.ConvertToVector512UInt32(Vector256.Load(p));
        Vector256<ushort> v = Vector256.Load(p);
        return Vector512.Create(Vector256.WidenLower(v), Vector256.WidenUpper(v));
    }
}
