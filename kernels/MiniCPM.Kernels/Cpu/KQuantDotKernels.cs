using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Fused dot products of Q4_K rows (144-byte blocks of 256) with float32 activations — the bulk of a Q4_K_M file.
/// A block holds f16 <c>d</c> and <c>dmin</c>, eight 6-bit (scale, min) pairs packed in 12 bytes, and 128 bytes of
/// nibbles: four groups of 32 bytes whose low nibbles are sub-block 2g and high nibbles sub-block 2g+1. Element
/// value (d·sc)·q − dmin·m, so a sub-block of 32 contributes (d·sc)·Σq·x − (dmin·m)·Σx: the quants are widened and
/// multiplied with x, and the min term needs only the sub-block's Σx. d·sc and dmin·m are exact in float32 (11-bit
/// by 6-bit products), the same factors the <c>Dequantizer</c> uses; only the summation order differs.
/// <para>
/// There is no four-row kernel: one (x loads shared by four rows, eight accumulators) measured slower, 10.1 → 7.7
/// GB/s (896×4864, one thread, this machine), so MatMul loops over <see cref="Dot"/>.
/// </para>
/// </summary>
internal static unsafe class Q4_KDotKernels
{
    private const int BlockElements = 256;
    private const int BlockBytes = 144;

    /// <summary>row · x for one row of <paramref name="cols"/> weights (a multiple of 256).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, float* x, int cols)
    {
        int blocks = cols / BlockElements;
        // Scaled quant sums and min terms kept apart, subtracted once at the end.
        var sums = Vector512<float>.Zero;
        var mins = Vector512<float>.Zero;
        for (int b = 0; b < blocks; b++)
            Block(w + (nint)b * BlockBytes, x + (nint)b * BlockElements, ref sums, ref mins);
        return Vector512.Sum(sums) - Vector512.Sum(mins);
    }

    /// <summary>
    /// Adds one block. The f16 scales are converted once per block, and the four groups are spelled out so that, once
    /// inlined, each group's (scale, min) unpacking has a constant sub-block index and no branch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block(byte* block, float* xb, ref Vector512<float> sums, ref Vector512<float> mins)
    {
        float d = HalfBits.ToFloat(*(ushort*)block);
        float dmin = HalfBits.ToFloat(*(ushort*)(block + 2));
        Group(block, 0, d, dmin, new GroupActivations(xb), ref sums, ref mins);
        Group(block, 1, d, dmin, new GroupActivations(xb + 64), ref sums, ref mins);
        Group(block, 2, d, dmin, new GroupActivations(xb + 128), ref sums, ref mins);
        Group(block, 3, d, dmin, new GroupActivations(xb + 192), ref sums, ref mins);
    }

    /// <summary>The 64 activations of one group (sub-blocks 2g and 2g+1) and each sub-block's Σx in 16 lanes.</summary>
    private readonly struct GroupActivations
    {
        public readonly Vector512<float> Low0, Low1, High0, High1, LowSum, HighSum;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public GroupActivations(float* x)
        {
            Low0 = Vector512.Load(x);
            Low1 = Vector512.Load(x + 16);
            High0 = Vector512.Load(x + 32);
            High1 = Vector512.Load(x + 48);
            LowSum = Low0 + Low1;
            HighSum = High0 + High1;
        }
    }

    /// <summary>Adds group <paramref name="group"/> of one block: (d·sc)·Σq·x into sums, (dmin·m)·Σx into mins.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group(byte* block, int group, float d, float dmin, in GroupActivations xs, ref Vector512<float> sums, ref Vector512<float> mins)
    {
        Vector256<byte> nibble = Vector256.Create((byte)0x0F);
        Vector256<byte> packed = Vector256.Load(block + 16 + 32 * group);
        Vector256<byte> low = packed & nibble;
        Vector256<byte> high = Vector256.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & nibble;
        var (scLow, mLow) = ScaleMin(block + 4, 2 * group);
        var (scHigh, mHigh) = ScaleMin(block + 4, 2 * group + 1);
        sums = Vector512.FusedMultiplyAdd(QuantDot(low, xs.Low0, xs.Low1), Vector512.Create(d * scLow), sums);
        sums = Vector512.FusedMultiplyAdd(QuantDot(high, xs.High0, xs.High1), Vector512.Create(d * scHigh), sums);
        mins = Vector512.FusedMultiplyAdd(xs.LowSum, Vector512.Create(dmin * mLow), mins);
        mins = Vector512.FusedMultiplyAdd(xs.HighSum, Vector512.Create(dmin * mHigh), mins);
    }

    /// <summary>Σ q·x over 32 small non-negative quants (one per byte), in 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> QuantDot(Vector256<byte> quants, Vector512<float> x0, Vector512<float> x1)
    {
        Vector512<float> q0 = Int8Lanes.ToFloat(quants.GetLower().AsSByte());
        Vector512<float> q1 = Int8Lanes.ToFloat(quants.GetUpper().AsSByte());
        return Vector512.FusedMultiplyAdd(q1, x1, q0 * x0);
    }

    /// <summary>
    /// The 6-bit (scale, min) of sub-block <paramref name="j"/> (ggml's get_scale_min_k4): sub-blocks 0..3 in the
    /// low 6 bits of bytes j and j+4; 4..7 with low 4 bits in the nibbles of byte j+4 and top 2 bits in the spare
    /// top bits of bytes j−4 and j.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int Scale, int Min) ScaleMin(byte* scales, int j)
    {
        if (j < 4) return (scales[j] & 63, scales[j + 4] & 63);
        return ((scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

/// <summary>
/// Fused dot products of Q6_K rows (210-byte blocks of 256) with float32 activations — the output and some FFN
/// matrices of a Q4_K_M file. A block is ql[128] (low 4 bits), qh[64] (high 2 bits), sixteen int8 scales (one per
/// 16 elements) and f16 <c>d</c> last. In each 128-element half, element l + 32k (k = 0..3) takes the low (k &lt; 2)
/// or high nibble of ql[l] (k even) or ql[l + 32] (k odd) and bits 2k..2k+1 of qh[l]; value (d·sc)·(q − 32).
/// Sixteen elements at a time share one scale, so each run of 16 is widened, multiplied with x and added into the
/// total with one FMA by d·sc (exact in float32, the Dequantizer's own factor).
/// </summary>
internal static unsafe class Q6_KDotKernels
{
    private const int BlockElements = 256;
    private const int BlockBytes = 210;

    /// <summary>row · x for one row of <paramref name="cols"/> weights (a multiple of 256).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, float* x, int cols)
    {
        int blocks = cols / BlockElements;
        // Two accumulators (quants 0..63 and 64..127 of each half): two FMA chains in flight.
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        Vector128<byte> nibble = Vector128.Create((byte)0x0F);
        Vector128<byte> highBits = Vector128.Create((byte)0x30);
        Vector128<byte> bias = Vector128.Create((byte)32);
        for (int b = 0; b < blocks; b++)
        {
            byte* block = w + (nint)b * BlockBytes;
            float* xb = x + (nint)b * BlockElements;
            float d = HalfBits.ToFloat(*(ushort*)(block + 208));
            for (int half = 0; half < 2; half++)
            {
                byte* ql = block + 64 * half;
                byte* qh = block + 128 + 32 * half;
                sbyte* scales = (sbyte*)(block + 192 + 8 * half);
                float* xh = xb + 128 * half;
                for (int s = 0; s < 2; s++)
                {
                    int l = 16 * s;
                    Vector128<byte> lowA = Vector128.Load(ql + l), lowB = Vector128.Load(ql + 32 + l);
                    Vector128<ushort> h = Vector128.Load(qh + l).AsUInt16();
                    // Each byte's 2-bit field k moved to bits 4..5 (16-bit shifts; the mask drops what crossed bytes).
                    Vector128<byte> q1 = (lowA & nibble) | (Vector128.ShiftLeft(h, 4).AsByte() & highBits);
                    Vector128<byte> q2 = (lowB & nibble) | (Vector128.ShiftLeft(h, 2).AsByte() & highBits);
                    Vector128<byte> q3 = (Vector128.ShiftRightLogical(lowA.AsUInt16(), 4).AsByte() & nibble) | (h.AsByte() & highBits);
                    Vector128<byte> q4 = (Vector128.ShiftRightLogical(lowB.AsUInt16(), 4).AsByte() & nibble) | (Vector128.ShiftRightLogical(h, 2).AsByte() & highBits);
                    // q − 32 in [−32, 31] on wrapping bytes, read as signed.
                    acc0 = Vector512.FusedMultiplyAdd(Run(q1 - bias, xh + l), Vector512.Create(d * scales[s]), acc0);
                    acc1 = Vector512.FusedMultiplyAdd(Run(q2 - bias, xh + 32 + l), Vector512.Create(d * scales[s + 2]), acc1);
                    acc0 = Vector512.FusedMultiplyAdd(Run(q3 - bias, xh + 64 + l), Vector512.Create(d * scales[s + 4]), acc0);
                    acc1 = Vector512.FusedMultiplyAdd(Run(q4 - bias, xh + 96 + l), Vector512.Create(d * scales[s + 6]), acc1);
                }
            }
        }
        return Vector512.Sum(acc0 + acc1);
    }

    /// <summary>16 signed quants · 16 activations, lane-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Run(Vector128<byte> quants, float* x) => Int8Lanes.ToFloat(quants.AsSByte()) * Vector512.Load(x);
}
