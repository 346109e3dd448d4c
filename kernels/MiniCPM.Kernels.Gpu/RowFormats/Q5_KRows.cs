using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q5_K in its file layout (176-byte super-blocks are 16-byte aligned: 11 words each). Word 0 holds d, dmin and the
/// 12 packed 6-bit (scale, min) bytes (as Q4_K), words 1..2 the 32 qh bytes, words 3..10 the 128 nibble bytes, 32 per
/// group of two sub-blocks. A unit is 16 of a group's bytes, as in Q4_K: low nibbles are 16 values of sub-block 2g
/// (piece A, fifth bit = bit 2g of qh[l]), high nibbles the same positions l of sub-block 2g+1 (bit 2g+1);
/// w = d·sc·q − dmin·m. For int8 activations a 32-value activation block is one sub-block j: the nibbles at shift
/// 4·(j &amp; 1) of group j/2's two words, bit j of both qh words.
/// </summary>
public struct Q5_KRows : IRowFormat, IInt8RowFormat<Q5_KRows.Words>
{
    public ArrayView<UInt4> Blocks;
    public int SuperBlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        int superBlock = unit >> 3, group = (unit >> 1) & 3, half = unit & 1;
        long first = ((long)row * SuperBlocksPerRow + superBlock) * 11;
        var head = Blocks[first];
        float d = Bits.HalfLow(head.X), dmin = Bits.HalfHigh(head.X);
        Q4_KRows.ScaleMin(head, 2 * group, out int scaleA, out int minA);
        Q4_KRows.ScaleMin(head, 2 * group + 1, out int scaleB, out int minB);
        var qh = Blocks[first + 1 + half];
        var w = Blocks[first + 3 + 2 * group + half];
        var u = new Unit32 { ScaleA = d * scaleA, ScaleB = d * scaleB, OffsetA = -dmin * minA, OffsetB = -dmin * minB };
        int shiftA = 2 * group, shiftB = 2 * group + 1;
        u.A0 = Five(w.X, 0, qh.X, shiftA); u.A1 = Five(w.Y, 0, qh.Y, shiftA);
        u.A2 = Five(w.Z, 0, qh.Z, shiftA); u.A3 = Five(w.W, 0, qh.W, shiftA);
        u.B0 = Five(w.X, 4, qh.X, shiftB); u.B1 = Five(w.Y, 4, qh.Y, shiftB);
        u.B2 = Five(w.Z, 4, qh.Z, shiftB); u.B3 = Five(w.W, 4, qh.W, shiftB);
        return u;
    }

    /// <summary>The super-block's head (d, dmin, packed scales), its two fifth-bit words and one block's two nibble words.</summary>
    public struct Words
    {
        public UInt4 Head, FifthA, FifthB, A, B;
    }

    public Words Fetch(int row, int block)
    {
        var words = Blocks.SubView((long)row * SuperBlocksPerRow * 11); // loop-invariant (Q4_KRows.Fetch)
        int first = (block >> 3) * 11, pair = 2 * ((block & 7) >> 1);
        return new Words
        {
            Head = words[first], FifthA = words[first + 1], FifthB = words[first + 2],
            A = words[first + 3 + pair], B = words[first + 4 + pair],
        };
    }

    /// <summary>Sub-block j: d_x·(d·sc_j·Σ q·x_q − dmin·m_j·Σx_q), as <see cref="Q4_KRows.Dot"/> with 5-bit levels.</summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        int subBlock = block & 7;
        var head = words.Head;
        Q4_KRows.ScaleMin(head, subBlock, out int scale, out int min);
        var qhA = words.FifthA;
        var qhB = words.FifthB;
        var a = words.A;
        var b = words.B;
        int shift = 4 * (subBlock & 1);
        int sum = Int8Math.Dot16(Levels(a.X, qhA.X, shift, subBlock), Levels(a.Y, qhA.Y, shift, subBlock),
            Levels(a.Z, qhA.Z, shift, subBlock), Levels(a.W, qhA.W, shift, subBlock), x.Low, 0);
        sum = Int8Math.Dot16(Levels(b.X, qhB.X, shift, subBlock), Levels(b.Y, qhB.Y, shift, subBlock),
            Levels(b.Z, qhB.Z, shift, subBlock), Levels(b.W, qhB.W, shift, subBlock), x.High, sum);
        return x.Scale * (Bits.HalfLow(head.X) * (scale * sum) - Bits.HalfHigh(head.X) * (min * x.Sum));
    }

    /// <summary>Four 5-bit levels as bytes 0..31: each ql byte's nibble at <paramref name="shift"/>, bit
    /// <paramref name="bit"/> of the qh byte as 16.</summary>
    private static uint Levels(uint ql, uint qh, int shift, int bit) =>
        ((ql >> shift) & 0x0F0F0F0F) | (((qh >> bit) & 0x01010101) << 4);

    public int PieceA(int unit) => 256 * (unit >> 3) + 64 * ((unit >> 1) & 3) + 16 * (unit & 1);
    public int PieceB(int unit) => PieceA(unit) + 32;

    /// <summary>Four levels: each byte's nibble at <paramref name="lowShift"/>, bit <paramref name="bit"/> of the qh byte as 16.</summary>
    private static Float4 Five(uint ql, int lowShift, uint qh, int bit) => new(
        Bits.Small(((ql >> lowShift) & 0xF) | (((qh >> bit) & 1) << 4)),
        Bits.Small(((ql >> (8 + lowShift)) & 0xF) | (((qh >> (8 + bit)) & 1) << 4)),
        Bits.Small(((ql >> (16 + lowShift)) & 0xF) | (((qh >> (16 + bit)) & 1) << 4)),
        Bits.Small(((ql >> (24 + lowShift)) & 0xF) | (((qh >> (24 + bit)) & 1) << 4)));
}
