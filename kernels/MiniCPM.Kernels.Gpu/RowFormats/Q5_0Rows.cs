using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q5_0 split on upload into aligned low nibbles (one 16-byte word per block, laid out as Q4_0's) and three halves of
/// header per block: d, then the 32 fifth bits qh as two 16-bit halves (bit j belongs to value j). w = d·(q − 16)
/// as ggml computes it: the unit hands over the centred levels q − 16 and an offset of −0, so even the sign of a zero
/// weight (−0 where d &lt; 0) matches the CPU dequantizer.
/// </summary>
public struct Q5_0Rows : IRowFormat, IInt8RowFormat<Q5_0Rows.Words>
{
    public ArrayView<UInt4> Quants;
    /// <summary>Per block: d, qh bits 0..15, qh bits 16..31.</summary>
    public ArrayView<ushort> Scales;
    public int BlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        long block = (long)row * BlocksPerRow + unit;
        float d = (float)Interop.IntAsFloat(Scales[3 * block]);
        uint low = Scales[3 * block + 1], high = Scales[3 * block + 2];
        var u = new Unit32 { ScaleA = d, ScaleB = d, OffsetA = -0f, OffsetB = -0f };
        Q5_1Rows.Fill(ref u, Quants[block], low, high, 16);
        return u;
    }

    /// <summary>One block's nibbles, fp16 d and the two halves of its fifth bits.</summary>
    public struct Words
    {
        public UInt4 Quants;
        public ushort Scale, FifthLow, FifthHigh;
    }

    public Words Fetch(int row, int block)
    {
        long start = (long)row * BlocksPerRow; // loop-invariant: the block's offset stays 32-bit (Q4_KRows.Fetch)
        var scales = Scales.SubView(3 * start);
        return new Words { Quants = Quants.SubView(start)[block], Scale = scales[3 * block], FifthLow = scales[3 * block + 1], FifthHigh = scales[3 * block + 2] };
    }

    /// <summary>(d·d_x)·(Σ q·x_q − 16·Σx_q): the 5-bit levels 0..31 as plain positive bytes, the offset paid through Σx_q
    /// (the CPU's int8 path makes the same integer).</summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        int sum = Q5_1Rows.FiveBitDot(words.Quants, words.FifthLow, words.FifthHigh, x);
        float d = (float)Interop.IntAsFloat(words.Scale);
        return d * x.Scale * (sum - 16 * x.Sum);
    }

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;
}
