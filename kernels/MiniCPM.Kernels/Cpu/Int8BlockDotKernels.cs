using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Dot products of rows of a 32-element block type with int8 activations (<see cref="Int8Vector"/>, Q8_0/Q8_1 blocks),
/// in three shapes: one row · one token, four rows · one token (matrix-vector: each activation block serves four
/// rows), two rows · four tokens (prefill: each unpacked weight block serves four tokens).
/// <para>
/// Per block: the 32 unsigned quants u meet the 32 activation bytes a in one <see cref="ByteDot.Add"/> (8 int32 lanes
/// of four products each), whose accumulator starts at −offset·Σa in lane 0, so the lanes sum to exactly ggml's
/// integer Σ(u − offset)·a. The lanes are converted to float (exact: |lane| &lt; 2²⁴) and added with one FMA by
/// d·dₐ — ggml's AVX2 kernels do the same per lane; only the float summation order may differ.
/// </para>
/// </summary>
internal static unsafe class Int8BlockDotKernels<TBlocks> where TBlocks : IInt8Blocks
{
    private const int BlockElements = 32;

    /// <summary>The accumulator start: −offset·Σa in lane 0 (nothing for the types with a min).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Start(int* blockSums, nint b) =>
        TBlocks.OffsetShift < 0 ? Vector256<int>.Zero : Vector256.CreateScalar(-(blockSums[b] << TBlocks.OffsetShift));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float D(byte* block) => HalfBits.ToFloat(*(ushort*)block);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float M(byte* block) => TBlocks.OffsetShift < 0 ? HalfBits.ToFloat(*(ushort*)(block + 2)) : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lanes(Vector256<int> sums) => Vector256.ConvertToSingle(sums);

    /// <summary>row · x for one row of <paramref name="cols"/> weights (a multiple of 32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, Int8Vector* x, int cols)
    {
        int blocks = cols / BlockElements;
        int size = TBlocks.BlockBytes;
        sbyte* a = x->Quants;
        float* da = x->Scales;
        float* s = x->MinTerms;
        int* sums = x->BlockSums;
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        float mins = 0;
        nint b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            byte* block0 = w + b * size, block1 = block0 + size;
            Vector256<int> p0 = ByteDot.Add(Start(sums, b), TBlocks.Quants(block0), Vector256.Load(a + b * BlockElements));
            Vector256<int> p1 = ByteDot.Add(Start(sums, b + 1), TBlocks.Quants(block1), Vector256.Load(a + (b + 1) * BlockElements));
            acc0 = Vector256.FusedMultiplyAdd(Lanes(p0), Vector256.Create(D(block0) * da[b]), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Lanes(p1), Vector256.Create(D(block1) * da[b + 1]), acc1);
            if (TBlocks.OffsetShift < 0) mins += M(block0) * s[b] + M(block1) * s[b + 1];
        }
        if (b < blocks)
        {
            byte* block = w + b * size;
            Vector256<int> p = ByteDot.Add(Start(sums, b), TBlocks.Quants(block), Vector256.Load(a + b * BlockElements));
            acc0 = Vector256.FusedMultiplyAdd(Lanes(p), Vector256.Create(D(block) * da[b]), acc0);
            if (TBlocks.OffsetShift < 0) mins += M(block) * s[b];
        }
        return Vector256.Sum(acc0 + acc1) + mins;
    }

    /// <summary>y[r] = row r · x for the four rows <paramref name="rowStride"/> bytes apart starting at <paramref name="w"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4Rows(byte* w, long rowStride, Int8Vector* x, int cols, float* y)
    {
        int blocks = cols / BlockElements;
        int size = TBlocks.BlockBytes;
        sbyte* a = x->Quants;
        float* da = x->Scales;
        float* s = x->MinTerms;
        int* sums = x->BlockSums;
        byte* w0 = w, w1 = w + rowStride, w2 = w + 2 * rowStride, w3 = w + 3 * rowStride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        // The four rows' d·dₐ of a block, converted together and stored, then each broadcast straight from memory
        // into its FMA (a broadcast load costs no shuffle uop).
        float* scales = stackalloc float[4];
        for (nint b = 0; b < blocks; b++)
        {
            nint offset = b * size;
            Vector256<sbyte> xa = Vector256.Load(a + b * BlockElements);
            Vector256<int> start = Start(sums, b);
            (HalfBits.ToFloat(Vector128.Create(
                (uint)*(ushort*)(w0 + offset), *(ushort*)(w1 + offset), *(ushort*)(w2 + offset), *(ushort*)(w3 + offset))) * Vector128.Create(da[b])).Store(scales);
            a0 = Vector256.FusedMultiplyAdd(Lanes(ByteDot.Add(start, TBlocks.Quants(w0 + offset), xa)), Vector256.Create(scales[0]), a0);
            a1 = Vector256.FusedMultiplyAdd(Lanes(ByteDot.Add(start, TBlocks.Quants(w1 + offset), xa)), Vector256.Create(scales[1]), a1);
            a2 = Vector256.FusedMultiplyAdd(Lanes(ByteDot.Add(start, TBlocks.Quants(w2 + offset), xa)), Vector256.Create(scales[2]), a2);
            a3 = Vector256.FusedMultiplyAdd(Lanes(ByteDot.Add(start, TBlocks.Quants(w3 + offset), xa)), Vector256.Create(scales[3]), a3);
            if (TBlocks.OffsetShift < 0)
            {
                float minTerm = s[b];
                m0 += M(w0 + offset) * minTerm;
                m1 += M(w1 + offset) * minTerm;
                m2 += M(w2 + offset) * minTerm;
                m3 += M(w3 + offset) * minTerm;
            }
        }
        y[0] = Vector256.Sum(a0) + m0;
        y[1] = Vector256.Sum(a1) + m1;
        y[2] = Vector256.Sum(a2) + m2;
        y[3] = Vector256.Sum(a3) + m3;
    }

    /// <summary>
    /// y[t·yStride + r] = row r · x_t for two weight rows (r = 0, 1) and the four tokens x[0..4): each block's quants
    /// are unpacked once and used eight times.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot2Rows4Tokens(byte* w, long rowStride, Int8Vector* x, int cols, float* y, long yStride)
    {
        int blocks = cols / BlockElements;
        int size = TBlocks.BlockBytes;
        Int8Vector x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        byte* w0 = w, w1 = w + rowStride;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        var mins0 = Vector128<float>.Zero;
        var mins1 = Vector128<float>.Zero;
        for (nint b = 0; b < blocks; b++)
        {
            byte* b0 = w0 + b * size, b1 = w1 + b * size;
            Vector256<byte> q0 = TBlocks.Quants(b0), q1 = TBlocks.Quants(b1);
            float d0 = D(b0), d1 = D(b1);
            nint at = b * BlockElements;
            Step(q0, q1, d0, d1, x0, b, at, ref a00, ref a10);
            Step(q0, q1, d0, d1, x1, b, at, ref a01, ref a11);
            Step(q0, q1, d0, d1, x2, b, at, ref a02, ref a12);
            Step(q0, q1, d0, d1, x3, b, at, ref a03, ref a13);
            if (TBlocks.OffsetShift < 0)
            {
                var minTerms = Vector128.Create(x0.MinTerms[b], x1.MinTerms[b], x2.MinTerms[b], x3.MinTerms[b]);
                mins0 = Vector128.FusedMultiplyAdd(minTerms, Vector128.Create(M(b0)), mins0);
                mins1 = Vector128.FusedMultiplyAdd(minTerms, Vector128.Create(M(b1)), mins1);
            }
        }
        y[0] = Vector256.Sum(a00) + mins0[0];
        y[1] = Vector256.Sum(a10) + mins1[0];
        y[yStride] = Vector256.Sum(a01) + mins0[1];
        y[yStride + 1] = Vector256.Sum(a11) + mins1[1];
        y[2 * yStride] = Vector256.Sum(a02) + mins0[2];
        y[2 * yStride + 1] = Vector256.Sum(a12) + mins1[2];
        y[3 * yStride] = Vector256.Sum(a03) + mins0[3];
        y[3 * yStride + 1] = Vector256.Sum(a13) + mins1[3];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step(Vector256<byte> q0, Vector256<byte> q1, float d0, float d1, in Int8Vector x, nint b, nint at,
        ref Vector256<float> acc0, ref Vector256<float> acc1)
    {
        Vector256<sbyte> xa = Vector256.Load(x.Quants + at);
        Vector256<int> start = Start(x.BlockSums, b);
        float scale = x.Scales[b];
        acc0 = Vector256.FusedMultiplyAdd(Lanes(ByteDot.Add(start, q0, xa)), Vector256.Create(d0 * scale), acc0);
        acc1 = Vector256.FusedMultiplyAdd(Lanes(ByteDot.Add(start, q1, xa)), Vector256.Create(d1 * scale), acc1);
    }
}
