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

    /// <summary>y = x / √(mean(x²) + ε) ⊙ w.</summary>
    public static void RmsNorm(NormArgs a)
    {
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
