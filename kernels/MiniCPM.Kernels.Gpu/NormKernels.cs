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

/// <summary>RMSNorm and LayerNorm, one thread group per row, block-wide sums through warp shuffles and shared memory.</summary>
public static class NormKernels
{
    public const int GroupSize = 256;

    /// <summary>y = x / √(mean(x²) + ε) ⊙ w.</summary>
    public static void RmsNorm(NormArgs a)
    {
        long start = (long)Grid.IdxX * a.Cols;
        float squares = 0;
        for (int i = Group.IdxX; i < a.Cols; i += GroupSize)
        {
            float v = a.X[start + i];
            squares += v * v;
        }
        float total = BlockSum(squares);
        float scale = 1f / XMath.Sqrt(total / a.Cols + a.Eps);
        for (int i = Group.IdxX; i < a.Cols; i += GroupSize)
            a.Y[start + i] = a.X[start + i] * scale * a.Weight[i];
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
