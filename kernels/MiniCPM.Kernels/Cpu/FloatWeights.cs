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

    /// <summary>
    /// Whether <see cref="Load32"/> splits its 32 weights into even and odd columns (16-bit dtypes: one 64-byte load
    /// holds 32 weights, and each 32-bit lane a pair, which is cheapest to widen in place) rather than into the first
    /// and second 16 columns. A kernel built on <see cref="Load32"/> reads its activations in the matching layout
    /// (<see cref="PairSplit"/>).
    /// </summary>
    static abstract bool SplitsPairs { get; }

    /// <summary>
    /// The 32 weights starting at element <paramref name="index"/> (a multiple of 32), as float32: columns
    /// index + 2k and index + 2k + 1 in lane k of <paramref name="first"/> and <paramref name="second"/> when
    /// <see cref="SplitsPairs"/>, else columns index + k and index + 16 + k.
    /// </summary>
    static abstract void Load32(byte* row, nint index, out Vector512<float> first, out Vector512<float> second);

    /// <summary><see cref="Load32"/> without the rare encodings, reporting them as <see cref="Load16Fast"/> does.</summary>
    static abstract void Load32Fast(byte* row, nint index, out Vector512<float> first, out Vector512<float> second,
        ref Vector512<uint> rare);

    /// <summary>
    /// Called by the streaming kernels once per 32 weights of a row: a software prefetch some way ahead, for dtypes
    /// whose widening is slow enough that the core's out-of-order window no longer reaches far enough ahead to keep
    /// memory busy. A no-op where measurement showed no gain.
    /// </summary>
    static abstract void Prefetch(byte* row, nint index);
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

    public static bool SplitsPairs => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load32(byte* row, nint index, out Vector512<float> first, out Vector512<float> second)
    {
        first = Load16(row, index);
        second = Load16(row, index + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load32Fast(byte* row, nint index, out Vector512<float> first, out Vector512<float> second,
        ref Vector512<uint> rare) => Load32(row, index, out first, out second);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(byte* row, nint index) { }
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

    public static bool SplitsPairs => true;

    /// <summary>Each 32-bit lane holds an even column (low half) and an odd one (high half): a shift and a mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load32(byte* row, nint index, out Vector512<float> first, out Vector512<float> second)
    {
        Vector512<uint> pairs = Vector512.Load((uint*)((ushort*)row + index));
        first = Vector512.ShiftLeft(pairs, 16).AsSingle();
        second = (pairs & Vector512.Create(0xFFFF0000u)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load32Fast(byte* row, nint index, out Vector512<float> first, out Vector512<float> second,
        ref Vector512<uint> rare) => Load32(row, index, out first, out second);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(byte* row, nint index) { }
}

/// <summary>
/// IEEE binary16 to float32, exactly, with integer and float lane operations (.NET exposes no vcvtph2ps), and with no
/// float32 subnormal ever entering an arithmetic instruction (AMD cores take a slow microcode assist for those, and
/// about 4% of 16-weight chunks of a trained F16 matrix hold a half subnormal). A half is s·eeeee·mmmmmmmmmm:
/// <list type="bullet">
/// <item>Normal halves: move exponent and mantissa into float32's positions and add 112 (= 127 − 15) to the
/// exponent field — an integer add, exact.</item>
/// <item>Zero and subnormals (exponent 0, value m·2⁻²⁴): the same bit moves give the normal float
/// 2⁻¹⁵·(1 + m/1024); one fused 2·v − 2⁻¹⁴ turns it into m·2⁻²⁴ — exact, since every intermediate is
/// representable and the result is a normal float32 (or +0). The fix-up is computed for every lane and the minimum
/// of the two kept: it is the smaller value exactly for the exponent-0 lanes (no mask, no blend).</item>
/// <item>Infinity and NaN (exponent 31): the exponent field becomes 143; setting all its bits gives 255. Only the
/// exact <see cref="Load16"/> does this; <see cref="Load16Fast"/> leaves it out and reports it through "rare".</item>
/// </list>
/// The sign is placed last, from a lane whose top bit is the half's sign (the sign-extended half, or a half in the
/// lane's top 16 bits).
/// </summary>
internal readonly unsafe struct F16Weights : IFloatWeights
{
    private const int MantissaShift = 13;                 // half mantissa bit 0 → float32 mantissa bit 13
    private const uint ExponentAndMantissa = 0x0FFFE000;  // after the shift: 5 exponent + 10 mantissa bits
    private const uint ExponentRebias = 112u << 23;       // 127 − 15, in float32's exponent field
    private const uint InfOrNaNMagnitude = 0x1Fu << 23;   // exponent 31, after the shift
    private const uint FloatExponentMask = 0x7F800000;
    private const uint SignMask = 0x80000000;
    private const float SmallestNormalHalf = 6.1035156e-5f; // 2⁻¹⁴

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* row, nint index)
    {
        Vector512<uint> h = HalfWords.SignExtend16((short*)row + index);
        Vector512<uint> magnitude = Magnitude(h);
        return FixInfOrNaN(Widen(h, magnitude), magnitude);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* row, nint index) => (float)((Half*)row)[index];

    /// <summary>Without the Inf/NaN fix-up: keeps the running maximum of the magnitude bits instead.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16Fast(byte* row, nint index, ref Vector512<uint> rare)
    {
        Vector512<uint> h = HalfWords.SignExtend16((short*)row + index);
        Vector512<uint> magnitude = Magnitude(h);
        rare = Vector512.Max(rare, magnitude);
        return Widen(h, magnitude).AsSingle();
    }

    public static bool SawRare(Vector512<uint> rare) =>
        Vector512.GreaterThanOrEqualAny(rare, Vector512.Create(InfOrNaNMagnitude));

    public static bool SplitsPairs => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load32(byte* row, nint index, out Vector512<float> first, out Vector512<float> second)
    {
        var (even, evenMagnitude, odd, oddMagnitude) = SplitPairs(row, index);
        first = FixInfOrNaN(Widen(even, evenMagnitude), evenMagnitude);
        second = FixInfOrNaN(Widen(odd, oddMagnitude), oddMagnitude);
    }

    /// <summary>
    /// The pairs are widened in place, with no sign-extending load: the odd (high) half sits in the lane's top 16 bits,
    /// 3 bits above its float32 position; the even (low) half is first shifted up to the top.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load32Fast(byte* row, nint index, out Vector512<float> first, out Vector512<float> second,
        ref Vector512<uint> rare)
    {
        var (even, evenMagnitude, odd, oddMagnitude) = SplitPairs(row, index);
        rare = Vector512.Max(rare, Vector512.Max(evenMagnitude, oddMagnitude));
        first = Widen(even, evenMagnitude).AsSingle();
        second = Widen(odd, oddMagnitude).AsSingle();
    }

    /// <summary>
    /// 2 KiB ahead in the row. The F16 matvec runs ~17 instructions per 32 weights, so the out-of-order window holds
    /// only a few hundred bytes of loads per row; measured at 3584×18944 on the 2-core Zen 5 host, 2 threads, idle:
    /// 62 → 76 GB/s (BF16, for comparison, lost 10% with the same prefetch, so it has none).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(byte* row, nint index)
    {
        const int aheadBytes = 2048;
        if (Sse.IsSupported) Sse.Prefetch0(row + index * sizeof(ushort) + aheadBytes);
    }

    /// <returns>
    /// Each half of the 32 at <paramref name="index"/> as a 32-bit lane whose top bit is its sign, with its
    /// <see cref="Magnitude"/>.
    /// </returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<uint> Even, Vector512<uint> EvenMagnitude, Vector512<uint> Odd, Vector512<uint> OddMagnitude)
        SplitPairs(byte* row, nint index)
    {
        Vector512<uint> odd = Vector512.Load((uint*)((ushort*)row + index)); // the high half is the odd column
        Vector512<uint> even = Vector512.ShiftLeft(odd, 16);
        const int fromTop = 16 - MantissaShift; // a half in the top 16 bits moves down 3 to its float32 position
        return (even, Vector512.ShiftRightLogical(even, fromTop) & Vector512.Create(ExponentAndMantissa),
                odd, Vector512.ShiftRightLogical(odd, fromTop) & Vector512.Create(ExponentAndMantissa));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> FixInfOrNaN(Vector512<uint> bits, Vector512<uint> magnitude)
    {
        Vector512<uint> isInfOrNaN = Vector512.GreaterThanOrEqual(magnitude, Vector512.Create(InfOrNaNMagnitude));
        return (bits | (isInfOrNaN & Vector512.Create(FloatExponentMask))).AsSingle();
    }

    /// <summary>Exponent and mantissa of the half <paramref name="h"/>, at their float32 bit positions, sign dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Magnitude(Vector512<uint> h) =>
        Vector512.ShiftLeft(h, MantissaShift) & Vector512.Create(ExponentAndMantissa);

    /// <param name="h">The half's bits in a 32-bit lane whose top bit is the half's sign (sign-extended, or shifted up).</param>
    /// <param name="magnitude"><see cref="Magnitude"/> of <paramref name="h"/>.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Widen(Vector512<uint> h, Vector512<uint> magnitude)
    {
        Vector512<float> normal = (magnitude + Vector512.Create(ExponentRebias)).AsSingle();
        // For exponent-0 lanes normal ∈ [2⁻¹⁵, 2⁻¹⁴) and the fix-up 2·normal − 2⁻¹⁴ ∈ [0, 2⁻¹⁴) is smaller; for every
        // other lane normal ≥ 2⁻¹⁴ and the fix-up is not smaller. So the minimum picks the right one, with no mask.
        Vector512<float> subnormal = Vector512.FusedMultiplyAdd(normal, Vector512.Create(2f), Vector512.Create(-SmallestNormalHalf));
        Vector512<float> value = Vector512.MinNative(normal, subnormal); // vminps: no NaN or signed-zero fix-ups needed here
        return value.AsUInt32() | (h & Vector512.Create(SignMask));
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

    /// <summary>16 consecutive 16-bit words sign-extended to 32-bit lanes (one vpmovsxwd, load folded in).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> SignExtend16(short* p)
    {
        if (Avx512F.IsSupported) return Avx512F.ConvertToVector512Int32(Vector256.Load(p)).AsUInt32();
        Vector256<short> v = Vector256.Load(p);
        return Vector512.Create(Vector256.WidenLower(v), Vector256.WidenUpper(v)).AsUInt32();
    }
}
