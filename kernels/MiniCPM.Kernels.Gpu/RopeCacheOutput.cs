using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// The q|k|v projection's epilogue that replaces <see cref="RopeKernel"/> (decode: one launch fewer per layer): a team
/// takes rows (r, r + d/2) of one head, the two halves of a RoPE pair, adds their biases as the plain product does and
/// hands the pair to <see cref="RopeKernel.Store"/> — so Qkv and the caches end bit-identical to the plain product
/// followed by <see cref="RopeKernel"/>. The matrix may be one dtype run of the projection, starting at
/// <see cref="Column"/> of the q|k|v row (a whole number of heads).
/// </summary>
public struct RopeCacheOutput : IRowPairOutput
{
    public RopeArgs Rope;
    /// <summary>This matrix's row 0 within the q|k|v row; its rows and Column are whole heads.</summary>
    public int Column;
    /// <summary>This matrix's biases (row-indexed), read when HasBias is 1.</summary>
    public ArrayView<float> Bias;
    public int HasBias;

    public int First(int pair)
    {
        int half = Rope.HeadDim / 2;
        return pair / half * Rope.HeadDim + pair % half;
    }

    public int Second(int pair) => First(pair) + Rope.HeadDim / 2;

    public void Write(int first, int second, int token, float sum0, float sum1)
    {
        if (HasBias != 0)
        {
            sum0 += Bias[first];
            sum1 += Bias[second];
        }
        RopeKernel.Store(Rope, token, Column + first, sum0, sum1);
    }
}
