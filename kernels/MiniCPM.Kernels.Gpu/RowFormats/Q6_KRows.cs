using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q6_K repacked on upload: per super-block 13 aligned words (ql 128 bytes, qh 64, the 16 int8 scales) and the fp16 d
/// beside them. For half h and l in [0, 32): value l = ql[l] low | qh[l] bits 0-1, l+32 = ql[l+32] low | bits 2-3,
/// l+64 = ql[l] high | bits 4-5, l+96 = ql[l+32] high | bits 6-7, each minus 32, scaled by d·sc[l/16 + 0,2,4,6].
/// A unit takes 16 positions l of one of the two ql runs: piece A its low nibbles, piece B (64 columns on) the high.
/// For int8 activations a 32-value activation block is k = j mod 4 of half h = j / 4 (j the block in the super-block):
/// ql run k &amp; 1 at nibble shift 4·(k / 2), qh bits 2k, 2k+1, scales sc[8h + 2k] (l &lt; 16) and sc[8h + 2k + 1].
/// </summary>
public struct Q6_KRows : IRowFormat, IInt8RowFormat<Q6_KRows.Words>
{
    public ArrayView<UInt4> Blocks;
    public ArrayView<ushort> Scales;
    public int SuperBlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        int superBlock = unit >> 3, half = (unit >> 2) & 1, run = (unit >> 1) & 1, quarter = unit & 1;
        long index = (long)row * SuperBlocksPerRow + superBlock;
        long first = index * 13;
        float d = (float)Interop.IntAsFloat(Scales[index]);
        var ql = Blocks[first + 4 * half + 2 * run + quarter];
        var qh = Blocks[first + 8 + 2 * half + quarter];
        var sc = Blocks[first + 12];
        int scaleIndex = 8 * half + quarter + 2 * run;
        int shiftA = 2 * run, shiftB = 2 * run + 4;
        float scaleA = d * ScaleAt(sc, scaleIndex), scaleB = d * ScaleAt(sc, scaleIndex + 4);
        var u = new Unit32 { ScaleA = scaleA, ScaleB = scaleB, OffsetA = -32 * scaleA, OffsetB = -32 * scaleB };
        u.A0 = Six(ql.X, qh.X, 0, shiftA); u.A1 = Six(ql.Y, qh.Y, 0, shiftA);
        u.A2 = Six(ql.Z, qh.Z, 0, shiftA); u.A3 = Six(ql.W, qh.W, 0, shiftA);
        u.B0 = Six(ql.X, qh.X, 4, shiftB); u.B1 = Six(ql.Y, qh.Y, 4, shiftB);
        u.B2 = Six(ql.Z, qh.Z, 4, shiftB); u.B3 = Six(ql.W, qh.W, 4, shiftB);
        return u;
    }

    /// <summary>One block's two ql words, its two qh words, the 32-bit word holding its two int8 scales, and d.</summary>
    public struct Words
    {
        public UInt4 LowA, LowB, HighA, HighB;
        public uint ScalePair;
        public ushort Scale;
    }

    public Words Fetch(int row, int block)
    {
        int superBlock = block >> 3, half = (block >> 2) & 1, k = block & 3;
        long start = (long)row * SuperBlocksPerRow; // loop-invariant (Q4_KRows.Fetch)
        var words = Blocks.SubView(start * 13);
        int first = superBlock * 13;
        // sc[8h + 2k] is byte 2(k & 1) of 32-bit word (8h + 2k) / 4 of the scales' 16 bytes (loaded alone: Fetch only loads)
        int scaleWord = 4 * (first + 12) + 2 * half + (k >> 1);
        return new Words
        {
            LowA = words[first + 4 * half + 2 * (k & 1)], LowB = words[first + 4 * half + 2 * (k & 1) + 1],
            HighA = words[first + 8 + 2 * half], HighB = words[first + 9 + 2 * half],
            ScalePair = words.Cast<uint>()[scaleWord],
            Scale = Scales.SubView(start)[superBlock],
        };
    }

    /// <summary>
    /// d_x·d·(sc_a·Σ_{l&lt;16}(q − 32)·x_q + sc_b·Σ_{l≥16}(q − 32)·x_q): the two 16-value halves carry their own int8 scales,
    /// so each gets its own dp4a chain over the levels q = 0..63 as they are (positive signed bytes), and the −32 is
    /// paid once per half through Σx_q (the low half's by dp4a against ones, the high half's the block's Σ minus it;
    /// the same for both rows of a team). Exact integers either way: the same sums as centring each byte first.
    /// </summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        int k = block & 3;
        var qlA = words.LowA;
        var qlB = words.LowB;
        var qhA = words.HighA;
        var qhB = words.HighB;
        int lowShift = 4 * (k >> 1), highShift = 2 * k;
        int dotA = Int8Math.Dot16(Levels(qlA.X, qhA.X, lowShift, highShift), Levels(qlA.Y, qhA.Y, lowShift, highShift),
            Levels(qlA.Z, qhA.Z, lowShift, highShift), Levels(qlA.W, qhA.W, lowShift, highShift), x.Low, 0);
        int dotB = Int8Math.Dot16(Levels(qlB.X, qhB.X, lowShift, highShift), Levels(qlB.Y, qhB.Y, lowShift, highShift),
            Levels(qlB.Z, qhB.Z, lowShift, highShift), Levels(qlB.W, qhB.W, lowShift, highShift), x.High, 0);
        int sumA = Int8Math.SumLowHalf(x), sumB = x.Sum - sumA;
        int total = Bits.SignedByteInt(words.ScalePair, 2 * (k & 1)) * (dotA - 32 * sumA)
            + Bits.SignedByteInt(words.ScalePair, 2 * (k & 1) + 1) * (dotB - 32 * sumB);
        return x.Scale * ((float)Interop.IntAsFloat(words.Scale) * total);
    }

    /// <summary>Four 6-bit levels q = 0..63 as bytes: each ql byte's nibble at <paramref name="lowShift"/>, 2 bits of qh above it.</summary>
    private static uint Levels(uint ql, uint qh, int lowShift, int highShift) =>
        ((ql >> lowShift) & 0x0F0F0F0F) | (((qh >> highShift) & 0x03030303) << 4);

    public int PieceA(int unit) => 256 * (unit >> 3) + 128 * ((unit >> 2) & 1) + 32 * ((unit >> 1) & 1) + 16 * (unit & 1);
    public int PieceB(int unit) => PieceA(unit) + 64;

    /// <summary>Four 6-bit levels: the nibble at <paramref name="lowShift"/> of each ql byte, 2 bits of qh above it.</summary>
    private static Float4 Six(uint ql, uint qh, int lowShift, int highShift) => new(
        Bits.Small(((ql >> lowShift) & 0xF) | (((qh >> highShift) & 3) << 4)),
        Bits.Small(((ql >> (8 + lowShift)) & 0xF) | (((qh >> (8 + highShift)) & 3) << 4)),
        Bits.Small(((ql >> (16 + lowShift)) & 0xF) | (((qh >> (16 + highShift)) & 3) << 4)),
        Bits.Small(((ql >> (24 + lowShift)) & 0xF) | (((qh >> (24 + highShift)) & 3) << 4)));

    private static float ScaleAt(UInt4 sc, int i) =>
        Bits.SignedByte(Bits.WordAt(sc, i >> 2), i & 3);
}
