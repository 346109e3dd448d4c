using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of the per-row norms: one group of <see cref="NormKernels.GroupSize"/> threads per row.</summary>
public struct NormArgs
{
    public ArrayView<float> X, Y, Weight, Bias;
    public int Cols;
    public float Eps;
}

/// <summary>Arguments of <see cref="NormKernels.RmsNormInt8"/>: <see cref="NormArgs"/> plus the int8 blocks of y.</summary>
public struct RmsNormInt8Args
{
    public ArrayView<float> X, Y, Weight;
    public Int8Blocks Q;
    public int Cols;
    public float Eps;
}

/// <summary>RMSNorm and LayerNorm, one thread group per row, block-wide sums through warp shuffles and shared memory.</summary>
public static class NormKernels
{
    public const int GroupSize = 256;

    /// <summary>Rows of at most this many quads (4 per thread: 4096 columns) are read into registers once.</summary>
    public const int RegisterQuads = 4 * GroupSize;

    /// <summary>Whether a row of <paramref name="cols"/> takes <see cref="RmsNormInRegisters"/> (both RMSNorm kernels
    /// decide alike, so their floats stay bit-identical).</summary>
    private static bool FitsRegisters(int cols) => cols % 4 == 0 && cols / 4 <= RegisterQuads;

    /// <summary>y = x / √(mean(x²) + ε) ⊙ w.</summary>
    public static void RmsNorm(NormArgs a)
    {
        if (FitsRegisters(a.Cols))
        {
            RmsNormInRegisters(a.X, a.Y, a.Weight, a.Cols, a.Eps, default, quantize: false);
            return;
        }
        long start = (long)Grid.IdxX * a.Cols;
        float scale = RmsScale(a.X, start, a.Cols, a.Eps, GroupSize);
        for (int i = Group.IdxX; i < a.Cols; i += GroupSize)
            a.Y[start + i] = a.X[start + i] * scale * a.Weight[i];
    }

    /// <summary>
    /// <see cref="RmsNorm"/> for a row that an int8-activation projection reads next: the same y, and its int8 blocks
    /// (<see cref="Int8Quantizer.QuantizeQuad"/>, 8 lanes per block of 32) in the same launch — the separate quantize
    /// launch per projection gone. Cols must be a multiple of 32.
    /// </summary>
    public static void RmsNormInt8(RmsNormInt8Args a)
    {
        if (FitsRegisters(a.Cols))
        {
            RmsNormInRegisters(a.X, a.Y, a.Weight, a.Cols, a.Eps, a.Q, quantize: true);
            return;
        }
        NormalizeQuads(a, Grid.IdxX, RmsScale(a.X, (long)Grid.IdxX * a.Cols, a.Cols, a.Eps, GroupSize), GroupSize);
    }

    /// <summary>
    /// What <see cref="RmsNormInt8"/> writes for row <paramref name="row"/>, bit for bit, by a whole group of
    /// <paramref name="threads"/> threads (a divisor of <see cref="GroupSize"/>: the matrix-vector kernel's 128 in its
    /// <see cref="RmsNormTail"/>). Only the sum of squares depends on who adds what, so it is added up in the order of
    /// <see cref="RmsNormInt8"/>'s <see cref="GroupSize"/> threads, each thread here standing in for several of them;
    /// x is read a second time for y rather than held in registers, which would cost the host kernel occupancy.
    /// </summary>
    internal static void RmsNormInt8Row(RmsNormInt8Args a, int row, int threads) =>
        NormalizeQuads(a, row, RmsScale(a.X, (long)row * a.Cols, a.Cols, a.Eps, threads), threads);

    /// <summary>y = x·scale·w and its int8 blocks for row <paramref name="row"/>, quad by quad, <paramref name="threads"/> at a time.</summary>
    private static void NormalizeQuads(RmsNormInt8Args a, int row, float scale, int threads)
    {
        var x = a.X.Cast<Float4>();
        var y = a.Y.Cast<Float4>();
        var w = a.Weight.Cast<Float4>();
        int quads = a.Cols / 4;
        long start4 = (long)row * quads;
        // Every thread takes the same number of steps, so whole warps reach the quantizer's shuffles together.
        for (int first = 0; first < quads; first += threads)
        {
            int i = first + Group.IdxX;
            Normalized(y, start4, i, quads, QuadAt(x, start4, i, quads), QuadAt(w, 0, i, quads), scale, a.Q, quantize: true, row);
        }
    }

    /// <summary>
    /// RMSNorm of a row that fits 4 quads per thread: every load of x and w is issued before anything waits, and x is
    /// read once (it stays in registers for the second pass). A strided loop over scalars waits out one memory
    /// round trip per step: 14 steps for a 3584-wide row, 6.9 µs on an H200 for a kernel that moves 28 KB.
    /// </summary>
    private static void RmsNormInRegisters(ArrayView<float> xs, ArrayView<float> ys, ArrayView<float> weight, int cols,
        float eps, Int8Blocks q, bool quantize)
    {
        int quads = cols / 4, tid = Group.IdxX, row = Grid.IdxX;
        long start4 = (long)row * quads;
        var x = xs.Cast<Float4>();
        var w = weight.Cast<Float4>();
        var y = ys.Cast<Float4>();
        Float4 x0 = QuadAt(x, start4, tid, quads), x1 = QuadAt(x, start4, tid + GroupSize, quads);
        Float4 x2 = QuadAt(x, start4, tid + 2 * GroupSize, quads), x3 = QuadAt(x, start4, tid + 3 * GroupSize, quads);
        Float4 w0 = QuadAt(w, 0, tid, quads), w1 = QuadAt(w, 0, tid + GroupSize, quads);
        Float4 w2 = QuadAt(w, 0, tid + 2 * GroupSize, quads), w3 = QuadAt(w, 0, tid + 3 * GroupSize, quads);
        float scale = Scale(BlockSum(Squares(x0, x1, x2, x3)), cols, eps);
        Normalized(y, start4, tid, quads, x0, w0, scale, q, quantize, row);
        Normalized(y, start4, tid + GroupSize, quads, x1, w1, scale, q, quantize, row);
        Normalized(y, start4, tid + 2 * GroupSize, quads, x2, w2, scale, q, quantize, row);
        Normalized(y, start4, tid + 3 * GroupSize, quads, x3, w3, scale, q, quantize, row);
    }

    private static Float4 QuadAt(ArrayView<Float4> v, long start, int i, int quads) => i < quads ? v[start + i] : default;

    private static float Squares(Float4 v) => v.X * v.X + v.Y * v.Y + v.Z * v.Z + v.W * v.W;

    /// <summary>A thread's share of the sum of squares in <see cref="RmsNormInRegisters"/>: its four quads, in order.</summary>
    private static float Squares(Float4 x0, Float4 x1, Float4 x2, Float4 x3) => Squares(x0) + Squares(x1) + Squares(x2) + Squares(x3);

    private static float Scale(float squares, int cols, float eps) => 1f / XMath.Sqrt(squares / cols + eps);

    /// <summary>Quad i of y = x·scale·w, and (uniformly per launch) its share of row <paramref name="row"/>'s int8 block.</summary>
    private static void Normalized(ArrayView<Float4> y, long start4, int i, int quads, Float4 v, Float4 g, float scale,
        Int8Blocks q, bool quantize, int row)
    {
        bool active = i < quads;
        var value = new Float4(v.X * scale * g.X, v.Y * scale * g.Y, v.Z * scale * g.Z, v.W * scale * g.W);
        if (active) y[start4 + i] = value;
        if (quantize) Int8Quantizer.QuantizeQuad(value, q, (long)row * q.BlocksPerToken + i / 8, active);
    }

    /// <summary>1 / √(mean(x²) + ε) of the row at <paramref name="start"/>, every thread of the group getting it (see <see cref="SumOfSquares"/>).</summary>
    private static float RmsScale(ArrayView<float> x, long start, int cols, float eps, int threads) =>
        Scale(SumOfSquares(x, start, cols, threads), cols, eps);

    /// <summary>
    /// Σx² of the row at <paramref name="start"/>, every thread of the group getting it, added up as a group of
    /// <see cref="GroupSize"/> threads adds it whatever <paramref name="threads"/> (a divisor of it) run it: thread t
    /// sums what threads t + k·threads of the full group would — their four quads as <see cref="RmsNormInRegisters"/>
    /// holds them where the row fits, else a strided run of scalars — and those sums meet in the same warp trees and
    /// the same final loop.
    /// </summary>
    internal static float SumOfSquares(ArrayView<float> x, long start, int cols, int threads)
    {
        var partial = SharedMemory.Allocate<float>(GroupSize / 32);
        bool quads = FitsRegisters(cols);
        Group.Barrier(); // partial may still be read by an earlier sum
        for (int t = Group.IdxX; t < GroupSize; t += threads)
        {
            float squares = 0;
            if (quads)
            {
                var x4 = x.Cast<Float4>();
                long start4 = start / 4;
                int count = cols / 4;
                squares = Squares(QuadAt(x4, start4, t, count), QuadAt(x4, start4, t + GroupSize, count),
                    QuadAt(x4, start4, t + 2 * GroupSize, count), QuadAt(x4, start4, t + 3 * GroupSize, count));
            }
            else
                for (int i = t; i < cols; i += GroupSize)
                {
                    float v = x[start + i];
                    squares += v * v;
                }
            StoreWarpSum(partial, squares, t);
        }
        Group.Barrier();
        return PartialsTotal(partial);
    }

    /// <summary>y = (x − mean) / √(var + ε) ⊙ w + b (two passes over the row, as the CPU kernel).</summary>
    public static void LayerNorm(NormArgs a)
    {
        long start = (long)Grid.IdxX * a.Cols;
        float sum = 0;
        for (int i = Group.IdxX; i < a.Cols; i += GroupSize) sum += a.X[start + i];
        float mean = BlockSum(sum) / a.Cols;
        float squares = 0;
        for (int i = Group.IdxX; i < a.Cols; i += GroupSize)
        {
            float v = a.X[start + i] - mean;
            squares += v * v;
        }
        float inverseStd = 1f / XMath.Sqrt(BlockSum(squares) / a.Cols + a.Eps);
        for (int i = Group.IdxX; i < a.Cols; i += GroupSize)
            a.Y[start + i] = (a.X[start + i] - mean) * inverseStd * a.Weight[i] + a.Bias[i];
    }

    /// <summary>Sum over the whole group; every thread gets it.</summary>
    internal static float BlockSum(float value)
    {
        var partial = SharedMemory.Allocate<float>(GroupSize / 32);
        Group.Barrier(); // partial may still be read by an earlier sum
        StoreWarpSum(partial, value, Group.IdxX);
        Group.Barrier();
        return PartialsTotal(partial);
    }

    /// <summary>The warp's sum of <paramref name="value"/> into the slot of thread <paramref name="thread"/>'s warp
    /// (all 32 lanes call it together).</summary>
    private static void StoreWarpSum(ArrayView<float> partial, float value, int thread)
    {
        value = WarpMath.Sum(value);
        if ((Group.IdxX & 31) == 0) partial[thread / 32] = value;
    }

    /// <summary>The warps' sums added in warp order.</summary>
    private static float PartialsTotal(ArrayView<float> partial)
    {
        float total = 0;
        for (int w = 0; w < GroupSize / 32; w++) total += partial[w];
        return total;
    }

    /// <summary>Maximum over the whole group; every thread gets it.</summary>
    internal static float BlockMax(float value)
    {
        var partial = SharedMemory.Allocate<float>(GroupSize / 32);
        value = WarpMath.Max(value);
        int warp = Group.IdxX / 32;
        Group.Barrier();
        if ((Group.IdxX & 31) == 0) partial[warp] = value;
        Group.Barrier();
        float best = partial[0];
        for (int w = 1; w < GroupSize / 32; w++) best = IntrinsicMath.Max(best, partial[w]);
        return best;
    }
}
