using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Dot products of float-dtype weight rows with float32 activations, in three shapes: one row · one vector (the
/// general case), four rows · one vector (matrix-vector: each activation load serves four rows), and two rows · four
/// vectors (prefill: each widened weight chunk serves four tokens). All accumulate in float32 lanes, 16 wide.
/// The two matrix-vector shapes use the fast widening and redo a row exactly in the rare case it needs it.
/// <para>
/// Layout of each shape: a public entry point, a vector loop over whole 16-column chunks in a method of its own, and
/// the scalar column tail out of line. The vector loops must contain no call: a call anywhere in the method makes the
/// JIT keep loop values in stack slots and reload them on every iteration (measured: the F16 kernel ran at half
/// speed that way).
/// </para>
/// </summary>
internal static unsafe class FloatDotKernels<TWeights> where TWeights : IFloatWeights
{
    private const int Lanes = 16;

    // AggressiveOptimization: compiled fully optimised on first call, so the first tokens do not run Tier-0 SIMD code.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(byte* w, float* x, int cols)
    {
        int vectorCols = cols & ~(Lanes - 1);
        float sum = DotChunksFast(w, x, vectorCols, out bool sawRare);
        if (sawRare) sum = DotChunksExact(w, x, vectorCols);
        return vectorCols < cols ? sum + Tail(w, x, vectorCols, cols) : sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float DotChunksFast(byte* w, float* x, int cols, out bool sawRare)
    {
        var rare = Vector512<uint>.Zero;
        float sum = DotChunks(w, x, cols, ref rare, exact: false);
        sawRare = TWeights.SawRare(rare);
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float DotChunksExact(byte* w, float* x, int cols)
    {
        var unused = Vector512<uint>.Zero;
        return DotChunks(w, x, cols, ref unused, exact: true);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load16(byte* w, nint i, ref Vector512<uint> rare, bool exact) =>
        exact ? TWeights.Load16(w, i) : TWeights.Load16Fast(w, i, ref rare);

    /// <summary>row · x over <paramref name="cols"/> columns, a multiple of 16.</summary>
    // Inlined into both callers so `exact` is a constant there and the branch in Load16 disappears.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotChunks(byte* w, float* x, int cols, ref Vector512<uint> rare, bool exact)
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
        for (; i < cols; i += Lanes)
            acc0 = Vector512.FusedMultiplyAdd(Load16(w, i, ref rare, exact), Vector512.Load(x + i), acc0);
        return Vector512.Sum((acc0 + acc1) + (acc2 + acc3));
    }

    /// <summary>Σ row[c]·x[c] for c in [<paramref name="from"/>, <paramref name="cols"/>), one weight at a time.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Tail(byte* w, float* x, int from, int cols)
    {
        float sum = 0;
        for (nint i = from; i < cols; i++) sum = MathF.FusedMultiplyAdd(TWeights.Load1(w, i), x[i], sum);
        return sum;
    }

    /// <summary>
    /// y[r] = row r · x for the four rows starting at <paramref name="w"/>, with <paramref name="x"/> in the
    /// <see cref="PairSplit"/> layout when <typeparamref name="TWeights"/> <see cref="IFloatWeights.SplitsPairs"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4Rows(byte* w, long rowStride, float* x, int cols, float* y)
    {
        int vectorCols = cols & ~(Lanes - 1);
        if (Dot4RowsChunksFast(w, rowStride, x, vectorCols, y)) Dot4RowsChunksExact(w, rowStride, x, vectorCols, y);
        if (vectorCols < cols)
            for (int r = 0; r < 4; r++) y[r] += Tail(w + r * rowStride, x, vectorCols, cols);
    }

    /// <returns>Whether a lane held a rare encoding, which the fast widening does not convert.</returns>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Dot4RowsChunksFast(byte* w, long rowStride, float* x, int cols, float* y)
    {
        var rare = Vector512<uint>.Zero;
        Dot4RowsChunks(w, rowStride, x, cols, y, ref rare, exact: false);
        return TWeights.SawRare(rare);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Dot4RowsChunksExact(byte* w, long rowStride, float* x, int cols, float* y)
    {
        var unused = Vector512<uint>.Zero;
        Dot4RowsChunks(w, rowStride, x, cols, y, ref unused, exact: true);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Load32(byte* w, nint i, out Vector512<float> first, out Vector512<float> second,
        ref Vector512<uint> rare, bool exact)
    {
        if (exact) TWeights.Load32(w, i, out first, out second);
        else TWeights.Load32Fast(w, i, out first, out second, ref rare);
    }

    /// <summary>
    /// Four rows · x over <paramref name="cols"/> columns, a multiple of 16: 32 columns per step (each x load serves
    /// four rows), then one step of 16 if left. Two accumulators per row keep eight FMA chains in flight.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4RowsChunks(byte* w, long rowStride, float* x, int cols, float* y, ref Vector512<uint> rare, bool exact)
    {
        byte* w0 = w, w1 = w + rowStride, w2 = w + 2 * rowStride, w3 = w + 3 * rowStride;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        nint i = 0;
        for (; i <= cols - PairSplit.Block; i += PairSplit.Block)
        {
            TWeights.Prefetch(w0, i);
            TWeights.Prefetch(w1, i);
            TWeights.Prefetch(w2, i);
            TWeights.Prefetch(w3, i);
            Vector512<float> x0 = Vector512.Load(x + i), x1 = Vector512.Load(x + i + Lanes);
            Load32(w0, i, out Vector512<float> first, out Vector512<float> second, ref rare, exact);
            a0 = Vector512.FusedMultiplyAdd(first, x0, a0);
            b0 = Vector512.FusedMultiplyAdd(second, x1, b0);
            Load32(w1, i, out first, out second, ref rare, exact);
            a1 = Vector512.FusedMultiplyAdd(first, x0, a1);
            b1 = Vector512.FusedMultiplyAdd(second, x1, b1);
            Load32(w2, i, out first, out second, ref rare, exact);
            a2 = Vector512.FusedMultiplyAdd(first, x0, a2);
            b2 = Vector512.FusedMultiplyAdd(second, x1, b2);
            Load32(w3, i, out first, out second, ref rare, exact);
            a3 = Vector512.FusedMultiplyAdd(first, x0, a3);
            b3 = Vector512.FusedMultiplyAdd(second, x1, b3);
        }
        if (i < cols)
        {
            // Past the last whole block of 32 the activations are in natural order.
            Vector512<float> xv = Vector512.Load(x + i);
            a0 = Vector512.FusedMultiplyAdd(Load16(w0, i, ref rare, exact), xv, a0);
            a1 = Vector512.FusedMultiplyAdd(Load16(w1, i, ref rare, exact), xv, a1);
            a2 = Vector512.FusedMultiplyAdd(Load16(w2, i, ref rare, exact), xv, a2);
            a3 = Vector512.FusedMultiplyAdd(Load16(w3, i, ref rare, exact), xv, a3);
        }
        y[0] = Vector512.Sum(a0 + b0);
        y[1] = Vector512.Sum(a1 + b1);
        y[2] = Vector512.Sum(a2 + b2);
        y[3] = Vector512.Sum(a3 + b3);
    }

    /// <summary>
    /// y[t·yStride + r] = row r · x_t for two weight rows (r = 0, 1) and four activation rows x_t = x + t·xStride.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot2Rows4Tokens(byte* w, long rowStride, float* x, long xStride, int cols, float* y, long yStride)
    {
        int vectorCols = cols & ~(Lanes - 1);
        Dot2Rows4TokensChunks(w, rowStride, x, xStride, vectorCols, y, yStride);
        if (vectorCols < cols)
            for (int t = 0; t < 4; t++)
                for (int r = 0; r < 2; r++)
                    y[t * yStride + r] += Tail(w + r * rowStride, x + t * xStride, vectorCols, cols);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Dot2Rows4TokensChunks(byte* w, long rowStride, float* x, long xStride, int cols, float* y, long yStride)
    {
        byte* w0 = w, w1 = w + rowStride;
        float* x0 = x, x1 = x + xStride, x2 = x + 2 * xStride, x3 = x + 3 * xStride;
        var a00 = Vector512<float>.Zero; var a01 = Vector512<float>.Zero; var a02 = Vector512<float>.Zero; var a03 = Vector512<float>.Zero;
        var a10 = Vector512<float>.Zero; var a11 = Vector512<float>.Zero; var a12 = Vector512<float>.Zero; var a13 = Vector512<float>.Zero;
        for (nint i = 0; i < cols; i += Lanes)
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
        Store2(y, Vector512.Sum(a00), Vector512.Sum(a10));
        Store2(y + yStride, Vector512.Sum(a01), Vector512.Sum(a11));
        Store2(y + 2 * yStride, Vector512.Sum(a02), Vector512.Sum(a12));
        Store2(y + 3 * yStride, Vector512.Sum(a03), Vector512.Sum(a13));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store2(float* y, float a, float b)
    {
        y[0] = a;
        y[1] = b;
    }
}
