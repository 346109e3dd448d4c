using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>The plain product's epilogue (<see cref="MatMulKernel"/>, <see cref="Int8MatVecKernel"/>): rows 2p and
/// 2p + 1, Y[t, row] = sum (+ bias[row]) (+ Y[t, row] when accumulating).</summary>
public struct RowPairStore : IRowPairOutput
{
    /// <summary>Tokens rows of YStride outputs; the matrix writes the first Rows of each (a view may start at an
    /// offset, so several matrices fill one fused output row).</summary>
    public ArrayView<float> Y;
    /// <summary>Rows biases, read when HasBias is 1.</summary>
    public ArrayView<float> Bias;
    public int YStride, Rows, HasBias;
    /// <summary>1: add into Y (the residual add fused into the projection that feeds it).</summary>
    public int Accumulate;

    public int First(int pair) => 2 * pair;

    public int Second(int pair) => 2 * pair + 1;

    public void Write(int first, int second, int token, float sum0, float sum1)
    {
        Store(first, token, sum0);
        if (second < Rows) Store(second, token, sum1);
    }

    private void Store(int row, int token, float sum)
    {
        if (HasBias != 0) sum += Bias[row];
        long index = (long)token * YStride + row;
        if (Accumulate != 0) sum += Y[index];
        Y[index] = sum;
    }
}
