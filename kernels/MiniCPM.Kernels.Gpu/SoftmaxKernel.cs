using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Row softmax in place, one group per row (max, exp and sum, divide); Cols values per row.</summary>
public static class SoftmaxKernel
{
    public static void Kernel(ArrayView<float> rows, int cols)
    {
        long start = (long)Grid.IdxX * cols;
        float max = float.NegativeInfinity;
        for (int i = Group.IdxX; i < cols; i += NormKernels.GroupSize) max = IntrinsicMath.Max(max, rows[start + i]);
        max = NormKernels.BlockMax(max);
        float sum = 0;
        for (int i = Group.IdxX; i < cols; i += NormKernels.GroupSize)
        {
            float e = XMath.Exp(rows[start + i] - max);
            rows[start + i] = e;
            sum += e;
        }
        float inverse = 1f / NormKernels.BlockSum(sum);
        for (int i = Group.IdxX; i < cols; i += NormKernels.GroupSize) rows[start + i] *= inverse;
    }
}
