using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Dot products of float-dtype weight rows with float32 activations, in three shapes: one row · one vector (the
/// general case), four rows · one vector (matrix-vector: each activation load serves four rows), and two rows · four
/// vectors (prefill: each widened weight chunk serves four tokens). All accumulate in float32 lanes, 16 wide.
/// The two bandwidth-bound shapes use the fast widening and redo a row exactly in the rare case it needs it.
/// </summary>
internal static unsafe class FloatDotKernels<TWeights> where TWeights : IFloatWeights
{
    private const int Lanes = 16;

    // AggressiveOptimization: compiled fully optimised on first call, so the first tokens do not run Tier-0 SIMD code.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, float* x, int cols)
    {
        var rare = Vector512<uint>.Zero;
        float fast = Dot(w, x, cols, ref rare, exact: false);
        return TWeights.SawRare(rare) ? Dot(w, x, cols, ref rare, exact: true) : fast;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load16(byte* w, nint i, ref Vector512<uint> rare, bool exact) =>
        exact ? TWeights.Load16(w, i) : TWeights.Load16Fast(w, i, ref rare);

    // Inlined into both call sites so `exact` is a constant there and the branch in Load16 disappears.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(byte* w, float* x, int cols, ref Vector512<uint> rare, bool exact)
    {
        // Four independent accumulators keep four FMA chains in flight.
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var acc2 = Vector512<float>.Zero;
        var acc3 = Vector512<float>.Zero;
        nint i = 0;
        for (; i <= cols - 4 * Lanes; i += 4 * Lanes)
        {
            acc0 = Vector512.FusedMultiplyAdd(Load16(w, i, ref rare, exact), Vector512.Load(x + i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(Load16(w, i + Lanes, ref rare, exact), Vector512.Load(x + i + Lanes), acc1);
            acc2 = Vector512.FusedMultiplyAdd(Load16(w, i + 2 * Lanes, ref rare, exact), Vector512.Load(x + i + 2 * Lanes), acc2);
            acc3 = Vector512.FusedMultiplyAdd(Load16(w, i + 3 * Lanes, ref rare, exact), Vector512.Load(x + i + 3 * Lanes), acc3);
        }
        for (; i <= cols - Lanes; i += Lanes)
            acc0 = Vector512.FusedMultiplyAdd(Load16(w, i, ref rare, exact), Vector512.Load(x + i), acc0);

        float sum = Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
        for (; i < cols; i++) sum = MathF.FusedMultiplyAdd(TWeights.Load1(w, i), x[i], sum);
        return sum;
    }

    /// <summary>y[r] = row r · x for the four rows starting at <paramref name="w"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4Rows(byte* w, long rowStride, float* x, int cols, float* y)
    {
        var rare = Vector512<uint>.Zero;
        Dot4Rows(w, rowStride, x, cols, y, ref rare, exact: false);
        if (TWeights.SawRare(rare)) Dot4Rows(w, rowStride, x, cols, y, ref rare, exact: true);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4Rows(byte* w, long rowStride, float* x, int cols, float* y, ref Vector512<uint> rare, bool exact)
    {
        byte* w0 = w, w1 = w + rowStride, w2 = w + 2 * rowStride, w3 = w + 3 * rowStride;
        var acc0 = Vector512<float>.Zero;
        var acc1 = Vector512<float>.Zero;
        var acc2 = Vector512<float>.Zero;
        var acc3 = Vector512<float>.Zero;
        nint i = 0;
        for (; i <= cols - Lanes; i += Lanes)
        {
            Vector512<float> xv = Vector512.Load(x + i);
            acc0 = Vector512.FusedMultiplyAdd(Load16(w0, i, ref rare, exact), xv, acc0);
            acc1 = Vector512.FusedMultiplyAdd(Load16(w1, i, ref rare, exact), xv, acc1);
            acc2 = Vector512.FusedMultiplyAdd(Load16(w2, i, ref rare, exact), xv, acc2);
            acc3 = Vector512.FusedMultiplyAdd(Load16(w3, i, ref rare, exact), xv, acc3);
        }
        float s0 = Vector512.Sum(acc0), s1 = Vector512.Sum(acc1), s2 = Vector512.Sum(acc2), s3 = Vector512.Sum(acc3);
        for (; i < cols; i++)
        {
            float xi = x[i];
            s0 = MathF.FusedMultiplyAdd(TWeights.Load1(w0, i), xi, s0);
            s1 = MathF.FusedMultiplyAdd(TWeights.Load1(w1, i), xi, s1);
            s2 = MathF.FusedMultiplyAdd(TWeights.Load1(w2, i), xi, s2);
            s3 = MathF.FusedMultiplyAdd(TWeights.Load1(w3, i), xi, s3);
        }
        y[0] = s0;
        y[1] = s1;
        y[2] = s2;
        y[3] = s3;
    }

    /// <summary>
    /// y[t·yStride + r] = row r · x_t for two weight rows (r = 0, 1) and four activation rows x_t = x + t·xStride.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot2Rows4Tokens(byte* w, long rowStride, float* x, long xStride, int cols, float* y, long yStride)
    {
        byte* w0 = w, w1 = w + rowStride;
        float* x0 = x, x1 = x + xStride, x2 = x + 2 * xStride, x3 = x + 3 * xStride;
        var a00 = Vector512<float>.Zero; var a01 = Vector512<float>.Zero; var a02 = Vector512<float>.Zero; var a03 = Vector512<float>.Zero;
        var a10 = Vector512<float>.Zero; var a11 = Vector512<float>.Zero; var a12 = Vector512<float>.Zero; var a13 = Vector512<float>.Zero;
        nint i = 0;
        for (; i <= cols - Lanes; i += Lanes)
        {
            Vector512<float> r0 = TWeights.Load16(w0, i);
            Vector512<float> r1 = TWeights.Load16(w1, i);
            Vector512<float> v = Vector512.Load(x0 + i);
            a00 = Vector512.FusedMultiplyAdd(r0, v, a00);
            a10 = Vector512.FusedMultiplyAdd(r1, v, a10);
            v = Vector512.Load(x1 + i);
            a01 = Vector512.FusedMultiplyAdd(r0, v, a01);
            a11 = Vector512.FusedMultiplyAdd(r1, v, a11);
            v = Vector512.Load(x2 + i);
            a02 = Vector512.FusedMultiplyAdd(r0, v, a02);
            a12 = Vector512.FusedMultiplyAdd(r1, v, a12);
            v = Vector512.Load(x3 + i);
            a03 = Vector512.FusedMultiplyAdd(r0, v, a03);
            a13 = Vector512.FusedMultiplyAdd(r1, v, a13);
        }
        float s00 = Vector512.Sum(a00), s01 = Vector512.Sum(a01), s02 = Vector512.Sum(a02), s03 = Vector512.Sum(a03);
        float s10 = Vector512.Sum(a10), s11 = Vector512.Sum(a11), s12 = Vector512.Sum(a12), s13 = Vector512.Sum(a13);
        for (; i < cols; i++)
        {
            float r0 = TWeights.Load1(w0, i), r1 = TWeights.Load1(w1, i);
            s00 = MathF.FusedMultiplyAdd(r0, x0[i], s00); s10 = MathF.FusedMultiplyAdd(r1, x0[i], s10);
            s01 = MathF.FusedMultiplyAdd(r0, x1[i], s01); s11 = MathF.FusedMultiplyAdd(r1, x1[i], s11);
            s02 = MathF.FusedMultiplyAdd(r0, x2[i], s02); s12 = MathF.FusedMultiplyAdd(r1, x2[i], s12);
            s03 = MathF.FusedMultiplyAdd(r0, x3[i], s03); s13 = MathF.FusedMultiplyAdd(r1, x3[i], s13);
        }
        Store2(y, s00, s10);
        Store2(y + yStride, s01, s11);
        Store2(y + 2 * yStride, s02, s12);
        Store2(y + 3 * yStride, s03, s13);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store2(float* y, float a, float b)
    {
        y[0] = a;
        y[1] = b;
    }
}
