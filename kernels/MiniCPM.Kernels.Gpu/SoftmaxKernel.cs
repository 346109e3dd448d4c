using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Row softmax in place, one group per row (max, exp and sum, divide); Cols values per row.</summary>
public static class SoftmaxKernel
{
    public static void Kernel(ArrayView<float> rows, int cols) => Row(rows.SubView((long)Grid.IdxX * cols, cols), cols, cols);

    /// <summary>The calling group's softmax of <paramref name="row"/>[0, <paramref name="visible"/>) in place, and zeros
    /// over [<paramref name="visible"/>, <paramref name="length"/>) (masked or padded positions).</summary>
    internal static void Row(ArrayView<float> row, int visible, int length)
    {
        float max = float.NegativeInfinity;
        for (int i = Group.IdxX; i < visible; i += NormKernels.GroupSize) max = IntrinsicMath.Max(max, row[i]);
        max = NormKernels.BlockMax(max);
        float sum = 0;
        for (int i = Group.IdxX; i < visible; i += NormKernels.GroupSize)
        {
            float e = XMath.Exp(row[i] - max);
            row[i] = e;
            sum += e;
        }
        float inverse = 1f / NormKernels.BlockSum(sum);
        for (int i = Group.IdxX; i < length; i += NormKernels.GroupSize) row[i] = i < visible ? row[i] * inverse : 0f;
    }
}
