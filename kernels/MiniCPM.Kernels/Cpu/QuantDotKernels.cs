using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// How one 32-element block of a quantized type turns into floats: the block's scale <c>d</c> and its 32 integer
/// quants, as two vectors of 16. The value of element j is quant[j]·d, exactly as the <c>Dequantizer</c> gives it
/// (an int8 times an f16 scale fits float32's mantissa, so the product is exact).
/// </summary>
internal unsafe interface IQuantBlocks
{
    /// <summary>Bytes per block of 32 weights.</summary>
    static abstract int BlockBytes { get; }

    /// <summary>The block's 32 quants as integers converted to float: elements 0..15 and 16..31.</summary>
    static abstract void LoadQuants(byte* block, out Vector512<float> low, out Vector512<float> high);
}

/// <summary>Q8_0: f16 d, then 32 int8 quants; value q·d.</summary>
internal readonly unsafe struct Q8_0Blocks : IQuantBlocks
{
    public static int BlockBytes => 34;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadQuants(byte* block, out Vector512<float> low, out Vector512<float> high)
    {
        low = Int8Lanes.ToFloat(Vector128.Load((sbyte*)block + 2));
        high = Int8Lanes.ToFloat(Vector128.Load((sbyte*)block + 18));
    }
}

/// <summary>Q4_0: f16 d, then 16 bytes; low nibbles are elements 0..15, high nibbles 16..31; value (q − 8)·d.</summary>
internal readonly unsafe struct Q4_0Blocks : IQuantBlocks
{
    public static int BlockBytes => 18;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void LoadQuants(byte* block, out Vector512<float> low, out Vector512<float> high)
    {
        Vector128<byte> packed = Vector128.Load(block + 2);
        Vector128<byte> nibble = Vector128.Create((byte)0x0F);
        Vector128<byte> eight = Vector128.Create((byte)8);
        // q − 8 in [−8, 7] computed on bytes (wrapping), then read as signed bytes: the same values an int32 subtraction gives.
        Vector128<sbyte> lowQuants = ((packed & nibble) - eight).AsSByte();
        Vector128<sbyte> highQuants = ((Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & nibble) - eight).AsSByte();
        low = Int8Lanes.ToFloat(lowQuants);
        high = Int8Lanes.ToFloat(highQuants);
    }
}

internal static class HalfBits
{
    private const float TwoTo112 = 5.192296858534828e33f; // 2¹¹²: float's exponent bias 127 minus half's 15

    /// <summary>
    /// f16 bits → float, exactly, in a few integer ops with no call (the <c>(float)Half</c> conversion is a call and,
    /// once per block, made the Q8_0 kernel four times slower). The half's exponent and mantissa placed 13 bits up
    /// are a float 2¹¹² too small — for subnormal halves too — so one multiply rescales it exactly. Inf and NaN
    /// (exponent all ones) get float's all-ones exponent first so they stay Inf and NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort h)
    {
        uint bits = (uint)(h & 0x7FFF) << 13;
        if ((bits & 0x0F800000) == 0x0F800000) bits |= 0x70000000;
        float magnitude = BitConverter.UInt32BitsToSingle(bits) * TwoTo112;
        return BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(magnitude) | (uint)(h & 0x8000) << 16);
    }
}

internal static class Int8Lanes
{
    /// <summary>16 signed bytes → 16 floats (vpmovsxbd + vcvtdq2ps with AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToFloat(Vector128<sbyte> v)
    {
        if (Avx512F.IsSupported) return Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(v));
        Vector128<short> lo = Vector128.WidenLower(v), hi = Vector128.WidenUpper(v);
        Vector256<int> a = Vector256.Create(Vector128.WidenLower(lo), Vector128.WidenUpper(lo));
        Vector256<int> b = Vector256.Create(Vector128.WidenLower(hi), Vector128.WidenUpper(hi));
        return Vector512.ConvertToSingle(Vector512.Create(a, b));
    }
}

/// <summary>
/// Dot products of rows of a 32-element block format with float32 activations, fused: no dequantized copy of the
/// row is made. Per block the 32 quants are widened to float and multiplied with x (Σ q·x in 16 lanes), and that
/// block sum joins the running total with one FMA by the block's scale d. So the result equals the dot of the
/// dequantized row with x up to float32 summation order. Rows must be whole blocks (cols a multiple of 32), which
/// <see cref="WeightMatrix"/> guarantees.
/// <para>
/// The f16 scale is converted with integer ops in the loop (<see cref="HalfBits"/>). Converting the scales of a row
/// first, 16 at a time with gathers, into a stack buffer read by the block loop measured 2–3× slower (Q8_0, one
/// thread, 4864×896: 28 → 13 GB/s), so it was not kept.
/// </para>
/// <para>Activations stay float32: quantizing them too (llama.cpp's q8 activations) would change the result.</para>
/// </summary>
internal static unsafe class QuantDotKernels<TBlocks> where TBlocks : IQuantBlocks
{
    private const int BlockElements = 32;

    /// <summary>The block's f16 scale broadcast to 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Scale(byte* block) => Vector512.Create(HalfBits.ToFloat(*(ushort*)block));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> BlockSum(byte* block, float* x)
    {
        TBlocks.LoadQuants(block, out Vector512<float> low, out Vector512<float> high);
        return Vector512.FusedMultiplyAdd(high, Vector512.Load(x + 16), low * Vector512.Load(x));
    }

    /// <summary>row · x for one row of <paramref name="cols"/> weights (a multiple of 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, float* x, int cols)
    {
        int blocks = cols / BlockElements;
        int size = TBlocks.BlockBytes;
        // Two accumulators, alternate blocks: two FMA chains in flight.
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            byte* block = w + (nint)b * size;
            float* xb = x + (nint)b * BlockElements;
            acc0 = Vector512.FusedMultiplyAdd(BlockSum(block, xb), Scale(block), acc0);
            acc1 = Vector512.FusedMultiplyAdd(BlockSum(block + size, xb + BlockElements), Scale(block + size), acc1);
        }
        if (b < blocks)
        {
            byte* block = w + (nint)b * size;
            acc0 = Vector512.FusedMultiplyAdd(BlockSum(block, x + (nint)b * BlockElements), Scale(block), acc0);
        }
        return Vector512.Sum(acc0 + acc1);
    }

    /// <summary>
    /// y[r] = row r · x for the four rows <paramref name="rowStride"/> bytes apart starting at <paramref name="w"/>:
    /// each activation load serves four rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4Rows(byte* w, long rowStride, float* x, int cols, float* y)
    {
        int blocks = cols / BlockElements;
        int size = TBlocks.BlockBytes;
        byte* w0 = w, w1 = w + rowStride, w2 = w + 2 * rowStride, w3 = w + 3 * rowStride;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < blocks; b++)
        {
            nint offset = (nint)b * size;
            float* xb = x + (nint)b * BlockElements;
            Vector512<float> x0 = Vector512.Load(xb), x1 = Vector512.Load(xb + 16);
            a0 = Accumulate(w0 + offset, x0, x1, a0);
            a1 = Accumulate(w1 + offset, x0, x1, a1);
            a2 = Accumulate(w2 + offset, x0, x1, a2);
            a3 = Accumulate(w3 + offset, x0, x1, a3);
        }
        y[0] = Vector512.Sum(a0);
        y[1] = Vector512.Sum(a1);
        y[2] = Vector512.Sum(a2);
        y[3] = Vector512.Sum(a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Accumulate(byte* block, Vector512<float> x0, Vector512<float> x1, Vector512<float> acc)
    {
        TBlocks.LoadQuants(block, out Vector512<float> low, out Vector512<float> high);
        Vector512<float> sum = Vector512.FusedMultiplyAdd(high, x1, low * x0);
        return Vector512.FusedMultiplyAdd(sum, Scale(block), acc);
    }
}
