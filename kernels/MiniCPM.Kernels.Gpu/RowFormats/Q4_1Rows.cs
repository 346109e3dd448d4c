using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q4_1 split on upload into aligned nibbles (one 16-byte word per 32-value block) and two fp16 halves per block
/// (d, m). Nibbles lie as in Q4_0 (low = values 0..15, high = 16..31); w = d·q + m, so m is both pieces' offset.
/// </summary>
public struct Q4_1Rows : IRowFormat, IInt8RowFormat<Q4_1Rows.Words>
{
    public ArrayView<UInt4> Quants;
    /// <summary>Per block: d, m.</summary>
    public ArrayView<ushort> Scales;
    public int BlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        long block = (long)row * BlocksPerRow + unit;
        float d = (float)Interop.IntAsFloat(Scales[2 * block]);
        float m = (float)Interop.IntAsFloat(Scales[2 * block + 1]);
        var w = Quants[block];
        var u = new Unit32 { ScaleA = d, ScaleB = d, OffsetA = m, OffsetB = m };
        u.A0 = Q4_0Rows.Low(w.X); u.A1 = Q4_0Rows.Low(w.Y); u.A2 = Q4_0Rows.Low(w.Z); u.A3 = Q4_0Rows.Low(w.W);
        u.B0 = Q4_0Rows.High(w.X); u.B1 = Q4_0Rows.High(w.Y); u.B2 = Q4_0Rows.High(w.Z); u.B3 = Q4_0Rows.High(w.W);
        return u;
    }

    /// <summary>One block's nibbles, fp16 d and m.</summary>
    public struct Words
    {
        public UInt4 Quants;
        public ushort Scale, Min;
    }

    public Words Fetch(int row, int block)
    {
        long start = (long)row * BlocksPerRow; // loop-invariant: the block's offset stays 32-bit (Q4_KRows.Fetch)
        var scales = Scales.SubView(2 * start);
        return new Words { Quants = Quants.SubView(start)[block], Scale = scales[2 * block], Min = scales[2 * block + 1] };
    }

    /// <summary>
    /// (d·d_x)·Σ q·x_q + m·s: the nibbles meet the quants in dp4a, the min meets the activation block's s = f16(d·Σx_q)
    /// (ggml's vec_dot_q4_1_q8_1 and the CPU's int8 path, which make the same two products).
    /// </summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        var w = words.Quants;
        const uint Nibbles = 0x0F0F0F0F;
        int sum = Int8Math.Dot16(w.X & Nibbles, w.Y & Nibbles, w.Z & Nibbles, w.W & Nibbles, x.Low, 0);
        sum = Int8Math.Dot16((w.X >> 4) & Nibbles, (w.Y >> 4) & Nibbles, (w.Z >> 4) & Nibbles, (w.W >> 4) & Nibbles, x.High, sum);
        float d = (float)Interop.IntAsFloat(words.Scale);
        float m = (float)Interop.IntAsFloat(words.Min);
        return d * x.Scale * sum + m * x.MinTerm;
    }

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;
}
