using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// How one 32-element block of a quantized type joins a dot product: the block's scale <c>d</c> and its 32 integer
/// quants q. The value of element j is q[j]·d, exactly as the <c>Dequantizer</c> gives it (a small integer times an
/// f16 scale fits float32's mantissa, so the product is exact); a block adds d·Σ q[j]·x[j] to the running total.
/// </summary>
internal unsafe interface IQuantBlocks
{
    /// <summary>Bytes per block of 32 weights.</summary>
    static abstract int BlockBytes { get; }

    /// <summary>
    /// q[0..16)·x0 + q[16..32)·x1 in 16 lanes — the block's dot before its scale d, which every block format here
    /// keeps as f16 in its first two bytes. x0 and x1 are the block's 32 activations. Each type picks its own
    /// cheapest way to turn quants into floats.
    /// </summary>
    static abstract Vector512<float> BlockSum(byte* block, Vector512<float> x0, Vector512<float> x1);
}

internal static unsafe class QuantBlock
{
    /// <summary>The block's f16 scale (its first two bytes) broadcast to 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Scale(byte* block) => Vector512.Create(HalfBits.ToFloat(*(ushort*)block));

    /// <summary>low·x0 + high·x1 in 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sum(Vector512<float> low, Vector512<float> high, Vector512<float> x0, Vector512<float> x1) =>
        Vector512.FusedMultiplyAdd(high, x1, low * x0);
}

/// <summary>Q8_0: f16 d, then 32 int8 quants; value q·d.</summary>
internal readonly unsafe struct Q8_0Blocks : IQuantBlocks
{
    public static int BlockBytes => 34;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BlockSum(byte* block, Vector512<float> x0, Vector512<float> x1)
    {
        Vector512<float> low = Int8Lanes.ToFloat(Vector128.Load((sbyte*)block + 2));
        Vector512<float> high = Int8Lanes.ToFloat(Vector128.Load((sbyte*)block + 18));
        return QuantBlock.Sum(low, high, x0, x1);
    }
}

/// <summary>
/// Q4_0: f16 d, then 16 bytes; low nibbles are elements 0..15, high nibbles 16..31; value (q − 8)·d.
/// <para>
/// With AVX-512 a nibble never becomes an integer lane that needs converting: the 16 bytes are zero-extended to 16
/// dword lanes (byte k in lane k), and <c>vpermps</c> — which reads only the low 4 bits of each index lane — looks
/// each nibble up in a 16-entry table of the floats −8..7. The low nibbles index directly; the high ones after a
/// 4-bit shift. That is 4 vector ops per block instead of 9 (mask, shift, mask, 2 subtracts, 2 widens, 2 converts),
/// and the result is the same float (q − 8) exactly.
/// </para>
/// </summary>
internal readonly unsafe struct Q4_0Blocks : IQuantBlocks
{
    public static int BlockBytes => 18;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BlockSum(byte* block, Vector512<float> x0, Vector512<float> x1)
    {
        Vector512<float> low, high;
        if (Avx512F.IsSupported)
        {
            Vector512<float> levels = Vector512.Create(-8f, -7f, -6f, -5f, -4f, -3f, -2f, -1f, 0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
            Vector512<int> packed = Avx512F.ConvertToVector512Int32(Vector128.Load(block + 2));
            low = Avx512F.PermuteVar16x32(levels, packed);
            high = Avx512F.PermuteVar16x32(levels, Avx512F.ShiftRightLogical(packed, 4));
        }
        else
        {
            Vector128<byte> packed = Vector128.Load(block + 2);
            Vector128<byte> nibble = Vector128.Create((byte)0x0F);
            Vector128<byte> eight = Vector128.Create((byte)8);
            // q − 8 in [−8, 7] computed on bytes (wrapping), then read as signed bytes: the same values an int32 subtraction gives.
            low = Int8Lanes.ToFloat(((packed & nibble) - eight).AsSByte());
            high = Int8Lanes.ToFloat(((Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & nibble) - eight).AsSByte());
        }
        return QuantBlock.Sum(low, high, x0, x1);
    }
}

internal static class HalfBits
{
    private const float TwoTo112 = 5.192296858534828e33f; // 2¹¹²: float's exponent bias 127 minus half's 15

    /// <summary>
    /// f16 bits → float, exactly, in a few integer ops with no call (the <c>(float)Half</c> conversion is a call and,
    /// once per block, made the Q8_0 kernel four times slower). The half's exponent and mantissa placed 13 bits up,
    /// with its sign on top, are a float 2¹¹² too small — for subnormal halves too — so one multiply rescales it
    /// exactly (the sign rides along). Inf and NaN (exponent all ones) get float's all-ones exponent first so they
    /// stay Inf and NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort h)
    {
        uint bits = (uint)(h & 0x7FFF) << 13 | (uint)(h & 0x8000) << 16;
        if ((bits & 0x0F800000) == 0x0F800000) bits |= 0x70000000;
        return BitConverter.UInt32BitsToSingle(bits) * TwoTo112;
    }

    /// <summary>The same conversion on four halves at once (each in the low 16 bits of a lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToFloat(Vector128<uint> h)
    {
        Vector128<uint> bits = (h & Vector128.Create(0x7FFFu)) << 13 | (h & Vector128.Create(0x8000u)) << 16;
        Vector128<uint> allOnesExponent = Vector128.Create(0x0F800000u);
        bits |= Vector128.Equals(bits & allOnesExponent, allOnesExponent) & Vector128.Create(0x70000000u);
        return bits.AsSingle() * Vector128.Create(TwoTo112);
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
/// The f16 scale is converted with integer ops in the loop (<see cref="HalfBits"/>): in the four-row kernel the four
/// rows' scales of a block together in one 4-lane vector, stored and re-read as broadcast memory operands of the
/// FMAs (a broadcast from memory costs no shuffle uop; a register broadcast does). Converting the scales of a row
/// first, 16 at a time with gathers, into a stack buffer read by the block loop measured 2–3× slower (Q8_0, one
/// thread, 4864×896: 28 → 13 GB/s), so it was not kept.
/// </para>
/// <para>
/// Tried for Q4_0 and not kept: building (q − 8) as floats by OR-ing the nibble into 2²³'s mantissa and subtracting
/// 2²³ + 8 (no lookup shuffle, two more float subtracts): 16.0 → 13.7 GB/s one thread (896×4864) against the
/// <c>vpermps</c> lookup.
/// </para>
/// <para>Activations stay float32: quantizing them too (llama.cpp's q8 activations) would change the result.</para>
/// </summary>
internal static unsafe class QuantDotKernels<TBlocks> where TBlocks : IQuantBlocks
{
    private const int BlockElements = 32;

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
            acc0 = Vector512.FusedMultiplyAdd(TBlocks.BlockSum(block, Vector512.Load(xb), Vector512.Load(xb + 16)), QuantBlock.Scale(block), acc0);
            acc1 = Vector512.FusedMultiplyAdd(TBlocks.BlockSum(block + size, Vector512.Load(xb + 32), Vector512.Load(xb + 48)),
                QuantBlock.Scale(block + size), acc1);
        }
        if (b < blocks)
        {
            float* xb = x + (nint)b * BlockElements;
            byte* block = w + (nint)b * size;
            acc0 = Vector512.FusedMultiplyAdd(TBlocks.BlockSum(block, Vector512.Load(xb), Vector512.Load(xb + 16)), QuantBlock.Scale(block), acc0);
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
        float* scales = stackalloc float[4];
        for (int b = 0; b < blocks; b++)
        {
            nint offset = (nint)b * size;
            float* xb = x + (nint)b * BlockElements;
            Vector512<float> x0 = Vector512.Load(xb), x1 = Vector512.Load(xb + 16);
            // The four rows' scales converted together and stored, then each broadcast straight from memory: a
            // broadcast load costs no shuffle, and shuffles are what the Q4_0 nibble lookup already spends.
            HalfBits.ToFloat(Vector128.Create(
                (uint)*(ushort*)(w0 + offset), *(ushort*)(w1 + offset), *(ushort*)(w2 + offset), *(ushort*)(w3 + offset))).Store(scales);
            a0 = Vector512.FusedMultiplyAdd(TBlocks.BlockSum(w0 + offset, x0, x1), Vector512.Create(scales[0]), a0);
            a1 = Vector512.FusedMultiplyAdd(TBlocks.BlockSum(w1 + offset, x0, x1), Vector512.Create(scales[1]), a1);
            a2 = Vector512.FusedMultiplyAdd(TBlocks.BlockSum(w2 + offset, x0, x1), Vector512.Create(scales[2]), a2);
            a3 = Vector512.FusedMultiplyAdd(TBlocks.BlockSum(w3 + offset, x0, x1), Vector512.Create(scales[3]), a3);
        }
        y[0] = Vector512.Sum(a0);
        y[1] = Vector512.Sum(a1);
        y[2] = Vector512.Sum(a2);
        y[3] = Vector512.Sum(a3);
    }

}
