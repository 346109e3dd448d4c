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

    /// <summary>
    /// <see cref="Load16"/> minus the handling of rare encodings (F16 infinity/NaN), which costs more than the rest of
    /// the widening; instead it folds into <paramref name="rare"/> what <see cref="SawRare"/> needs to tell, after a
    /// whole row, whether any lane needed it. Kernels that see true recompute those rows with the exact path.
    /// </summary>
    static abstract Vector512<float> Load16Fast(byte* row, nint index, ref Vector512<uint> rare);

    static abstract bool SawRare(Vector512<uint> rare);
}

internal readonly unsafe struct F32Weights : IFloatWeights
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index) => Vector512.Load((float*)row + index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => ((float*)row)[index];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16Fast(byte* row, nint index, ref Vector512<uint> rare) => Load16(row, index);

    public static bool SawRare(Vector512<uint> rare) => false;
}

/// <summary>bfloat16 is the top half of a float32: widening is a 16-bit shift.</summary>
internal readonly unsafe struct BF16Weights : IFloatWeights
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index) =>
        Vector512.ShiftLeft(HalfWords.Widen16((ushort*)row + index), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => BitConverter.Int32BitsToSingle(((ushort*)row)[index] << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16Fast(byte* row, nint index, ref Vector512<uint> rare) => Load16(row, index);

    public static bool SawRare(Vector512<uint> rare) => false;
}

/// <summary>
/// IEEE binary16 to float32, exactly, with integer and float lane operations (.NET exposes no vcvtph2ps), and with no
/// float32 subnormal ever entering an arithmetic instruction (AMD cores take a slow assist for those, and about 4% of
/// 16-weight chunks of a trained F16 matrix hold a half subnormal).
/// <list type="bullet">
/// <item>Normal halves: shift exponent and mantissa into float32's positions and add 112 (= 127 − 15) to the
/// exponent field — an integer add, exact.</item>
/// <item>Zero and subnormals (exponent 0, value m·2⁻²⁴): build the normal float 2⁻¹⁴·(1 + m/1024) the same way with
/// exponent 113 and subtract 2⁻¹⁴ — exact, since both are normal and the difference is representable.</item>
/// <item>Infinity and NaN (exponent 31): the exponent field becomes 143; setting all its bits gives 255.</item>
/// </list>
/// The sign bit is placed last.
/// </summary>
internal readonly unsafe struct F16Weights : IFloatWeights
{
    private const uint ExponentRebias = 112u << 23;        // 127 − 15, in float32's exponent field
    private const uint SubnormalRebias = 113u << 23;       // gives 2⁻¹⁴·(1 + m/1024)
    private const float SmallestNormalHalf = 6.1035156e-5f; // 2⁻¹⁴
    private const uint HalfExponentMask = 0x7C00;
    private const uint HalfExponentAllOnesShifted = 0xF8000000; // 0x7C00 << 17: exponent 31, sign shifted out
    private const uint FloatExponentMask = 0x7F800000;
    private const uint FloatSignMask = 0x80000000;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index)
    {
        Vector512<uint> h = HalfWords.Widen16((ushort*)row + index);
        Vector512<uint> exponentAndMantissaTop = Vector512.ShiftLeft(h, 17);
        Vector512<uint> bits = Widen(h, exponentAndMantissaTop);
        Vector512<uint> isInfOrNaN = Vector512.GreaterThanOrEqual(exponentAndMantissaTop, Vector512.Create(HalfExponentAllOnesShifted));
        return (bits | (isInfOrNaN & Vector512.Create(FloatExponentMask))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => (float)((Half*)row)[index];

    /// <summary>Without the Inf/NaN fix-up: keeps the running maximum of the exponent bits (sign shifted out).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16Fast(byte* row, nint index, ref Vector512<uint> rare)
    {
        Vector512<uint> h = HalfWords.Widen16((ushort*)row + index);
        Vector512<uint> exponentAndMantissaTop = Vector512.ShiftLeft(h, 17);
        rare = Vector512.Max(rare, exponentAndMantissaTop);
        return Widen(h, exponentAndMantissaTop).AsSingle();
    }

    public static bool SawRare(Vector512<uint> rare) =>
        Vector512.GreaterThanOrEqualAny(rare, Vector512.Create(HalfExponentAllOnesShifted));

    /// <param name="h">The half's bits, zero-extended.</param>
    /// <param name="exponentAndMantissaTop"><paramref name="h"/> &lt;&lt; 17: sign dropped, exponent at the top.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Widen(Vector512<uint> h, Vector512<uint> exponentAndMantissaTop)
    {
        Vector512<uint> magnitude = Vector512.ShiftRightLogical(exponentAndMantissaTop, 4); // float32 positions
        Vector512<uint> normal = magnitude + Vector512.Create(ExponentRebias);
        Vector512<uint> subnormal = ((magnitude + Vector512.Create(SubnormalRebias)).AsSingle()
            - Vector512.Create(SmallestNormalHalf)).AsUInt32();
        Vector512<uint> isSubnormal = Vector512.Equals(h & Vector512.Create(HalfExponentMask), Vector512<uint>.Zero);
        Vector512<uint> sign = Vector512.ShiftLeft(h, 16) & Vector512.Create(FloatSignMask);
        return Vector512.ConditionalSelect(isSubnormal, subnormal, normal) | sign;
    }
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
