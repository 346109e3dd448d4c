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
        float scale = RmsScale(a.X, start, a.Cols, a.Eps);
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
        long start = (long)Grid.IdxX * a.Cols;
        float scale = RmsScale(a.X, start, a.Cols, a.Eps);
        var x = a.X.Cast<Float4>();
        var y = a.Y.Cast<Float4>();
        var w = a.Weight.Cast<Float4>();
        long start4 = start / 4;
        int quads = a.Cols / 4;
        // Every thread takes the same number of steps, so whole warps reach the quantizer's shuffles together.
        for (int first = 0; first < quads; first += GroupSize)
        {
            int i = first + Group.IdxX;
            bool active = i < quads;
            Float4 value = default;
            if (active)
            {
                Float4 v = x[start4 + i], g = w[i];
                value = new Float4(v.X * scale * g.X, v.Y * scale * g.Y, v.Z * scale * g.Z, v.W * scale * g.W);
                y[start4 + i] = value;
            }
            Int8Quantizer.QuantizeQuad(value, a.Q, (long)Grid.IdxX * a.Q.BlocksPerToken + i / 8, active);
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
        int quads = cols / 4, tid = Group.IdxX;
        long start4 = (long)Grid.IdxX * quads;
        var x = xs.Cast<Float4>();
        var w = weight.Cast<Float4>();
        var y = ys.Cast<Float4>();
        Float4 x0 = QuadAt(x, start4, tid, quads), x1 = QuadAt(x, start4, tid + GroupSize, quads);
        Float4 x2 = QuadAt(x, start4, tid + 2 * GroupSize, quads), x3 = QuadAt(x, start4, tid + 3 * GroupSize, quads);
        Float4 w0 = QuadAt(w, 0, tid, quads), w1 = QuadAt(w, 0, tid + GroupSize, quads);
        Float4 w2 = QuadAt(w, 0, tid + 2 * GroupSize, quads), w3 = QuadAt(w, 0, tid + 3 * GroupSize, quads);
        float squares = Squares(x0) + Squares(x1) + Squares(x2) + Squares(x3);
        float scale = 1f / XMath.Sqrt(BlockSum(squares) / cols + eps);
        Normalized(y, start4, tid, quads, x0, w0, scale, q, quantize);
        Normalized(y, start4, tid + GroupSize, quads, x1, w1, scale, q, quantize);
        Normalized(y, start4, tid + 2 * GroupSize, quads, x2, w2, scale, q, quantize);
        Normalized(y, start4, tid + 3 * GroupSize, quads, x3, w3, scale, q, quantize);
    }

    private static Float4 QuadAt(ArrayView<Float4> v, long start, int i, int quads) => i < quads ? v[start + i] : default;

    private static float Squares(Float4 v) => v.X * v.X + v.Y * v.Y + v.Z * v.Z + v.W * v.W;

    /// <summary>Quad i of y = x·scale·w, and (uniformly per launch) its share of the row's int8 block.</summary>
    private static void Normalized(ArrayView<Float4> y, long start4, int i, int quads, Float4 v, Float4 g, float scale,
        Int8Blocks q, bool quantize)
    {
        bool active = i < quads;
        var value = new Float4(v.X * scale * g.X, v.Y * scale * g.Y, v.Z * scale * g.Z, v.W * scale * g.W);
        if (active) y[start4 + i] = value;
        if (quantize) Int8Quantizer.QuantizeQuad(value, q, (long)Grid.IdxX * q.BlocksPerToken + i / 8, active);
    }

    /// <summary>1 / √(mean(x²) + ε) of the row at <paramref name="start"/>, every thread of the group getting it.</summary>
    private static float RmsScale(ArrayView<float> x, long start, int cols, float eps)
    {
        float squares = 0;
        for (int i = Group.IdxX; i < cols; i += GroupSize)
        {
            float v = x[start + i];
            squares += v * v;
        }
        float total = BlockSum(squares);
        return 1f / XMath.Sqrt(total / cols + eps);
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
        value = WarpMath.Sum(value);
        int warp = Group.IdxX / 32;
        Group.Barrier();
        if ((Group.IdxX & 31) == 0) partial[warp] = value;
        Group.Barrier();
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
