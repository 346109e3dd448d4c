using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q4_K in its file layout (144-byte super-blocks are 16-byte aligned: 9 words each). Word 0 holds d, dmin and the
/// first 12 bytes hold the packed 6-bit (scale, min) pairs; words 1..8 the 128 nibble bytes, 32 per group of two
/// sub-blocks. A unit is 16 of a group's bytes: low nibbles are 16 values of sub-block 2g (piece A), high nibbles the
/// same 16 positions of sub-block 2g+1 (piece B); w = d·sc·q − dmin·m. For int8 activations a 32-value activation
/// block is one sub-block j: the nibbles at shift 4·(j &amp; 1) of group j/2's two words.
/// </summary>
public struct Q4_KRows : IRowFormat, IInt8RowFormat<Q4_KRows.Words>
{
    public ArrayView<UInt4> Blocks;
    public int SuperBlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        int superBlock = unit >> 3, group = (unit >> 1) & 3, half = unit & 1;
        long first = ((long)row * SuperBlocksPerRow + superBlock) * 9;
        var head = Blocks[first];
        float d = Bits.HalfLow(head.X), dmin = Bits.HalfHigh(head.X);
        ScaleMin(head, 2 * group, out int scaleA, out int minA);
        ScaleMin(head, 2 * group + 1, out int scaleB, out int minB);
        var w = Blocks[first + 1 + 2 * group + half];
        var u = new Unit32 { ScaleA = d * scaleA, ScaleB = d * scaleB, OffsetA = -dmin * minA, OffsetB = -dmin * minB };
        u.A0 = Q4_0Rows.Low(w.X); u.A1 = Q4_0Rows.Low(w.Y); u.A2 = Q4_0Rows.Low(w.Z); u.A3 = Q4_0Rows.Low(w.W);
        u.B0 = Q4_0Rows.High(w.X); u.B1 = Q4_0Rows.High(w.Y); u.B2 = Q4_0Rows.High(w.Z); u.B3 = Q4_0Rows.High(w.W);
        return u;
    }

    /// <summary>The super-block's head (d, dmin, packed scales) and the two nibble words of one block.</summary>
    public struct Words
    {
        public UInt4 Head, A, B;
    }

    public Words Fetch(int row, int block)
    {
        // The row's start times 9 words apart from the offset within the row, so ptxas keeps the former out of the
        // loop (a 64-bit multiply per block otherwise) and the latter stays 32-bit.
        var words = Blocks.SubView((long)row * SuperBlocksPerRow * 9);
        int first = (block >> 3) * 9, pair = 2 * ((block & 7) >> 1);
        return new Words { Head = words[first], A = words[first + 1 + pair], B = words[first + 2 + pair] };
    }

    /// <summary>
    /// Sub-block j of a super-block: d_x·(d·sc_j·Σ q·x_q − dmin·m_j·Σx_q) (llama.cpp's mmvq against Q8_1-style blocks; the
    /// min term costs one integer multiply thanks to the activation block's Σx_q). Nibbles 0..15 are plain positive
    /// bytes after masking, so signed dp4a multiplies them exactly.
    /// </summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        int subBlock = block & 7;
        var head = words.Head;
        ScaleMin(head, subBlock, out int scale, out int min);
        var a = words.A;
        var b = words.B;
        int shift = 4 * (subBlock & 1);
        const uint Nibbles = 0x0F0F0F0F;
        int sum = Int8Math.Dp4a((a.X >> shift) & Nibbles, x.Low.X, 0);
        sum = Int8Math.Dp4a((a.Y >> shift) & Nibbles, x.Low.Y, sum);
        sum = Int8Math.Dp4a((a.Z >> shift) & Nibbles, x.Low.Z, sum);
        sum = Int8Math.Dp4a((a.W >> shift) & Nibbles, x.Low.W, sum);
        sum = Int8Math.Dp4a((b.X >> shift) & Nibbles, x.High.X, sum);
        sum = Int8Math.Dp4a((b.Y >> shift) & Nibbles, x.High.Y, sum);
        sum = Int8Math.Dp4a((b.Z >> shift) & Nibbles, x.High.Z, sum);
        sum = Int8Math.Dp4a((b.W >> shift) & Nibbles, x.High.W, sum);
        return x.Scale * (Bits.HalfLow(head.X) * (scale * sum) - Bits.HalfHigh(head.X) * (min * x.Sum));
    }

    public int PieceA(int unit) => 256 * (unit >> 3) + 64 * ((unit >> 1) & 3) + 16 * (unit & 1);
    public int PieceB(int unit) => PieceA(unit) + 32;

    /// <summary>
    /// ggml's get_scale_min_k4 over the 12 scale bytes (bytes 4..15 of the super-block: words Y, Z, W), without
    /// branches (the lanes of a warp hold different sub-blocks). With k = j &amp; 3 and S, M, H byte k of Y, Z, W:
    /// j &lt; 4 gives (S &amp; 63, M &amp; 63); j ≥ 4 gives (H &amp; 15 | (S &gt;&gt; 6) &lt;&lt; 4, H &gt;&gt; 4 | (M &gt;&gt; 6) &lt;&lt; 4).
    /// </summary>
    internal static void ScaleMin(UInt4 head, int subBlock, out int scale, out int min)
    {
        int shift = 8 * (subBlock & 3);
        uint s = head.Y >> shift, m = head.Z >> shift, h = head.W >> shift; // byte k in bits 0..7 (bits above ignored)
        uint scaleLow = s & 63, minLow = m & 63;
        uint scaleHigh = (h & 15) | ((s >> 2) & 48), minHigh = ((h >> 4) & 15) | ((m >> 2) & 48);
        int high = subBlock >> 2;
        scale = (int)Bits.Select(scaleLow, scaleHigh, high);
        min = (int)Bits.Select(minLow, minHigh, high);
    }
}
