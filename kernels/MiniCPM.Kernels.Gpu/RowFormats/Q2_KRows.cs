using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q2_K repacked on upload: per super-block 5 aligned words (the 16 scale bytes, then qs' 64 bytes) and its two fp16
/// halves d, dmin beside them (the file's 84-byte blocks allow no vector load). Value 128h + 32s + 16p + l is 2 bits
/// of qs byte 32h + 16p + l at shift 2s, in 16-value sub-block 8h + 2s + p with scale byte sc: w = d·(sc &amp; 15)·q −
/// dmin·(sc &gt;&gt; 4). A unit is one qs word (h, p) at two shifts 2s, 2s + 2: each piece is one whole sub-block.
/// For int8 activations a 32-value activation block j = 4h + s is qs words (h, 0) and (h, 1) at shift 2s: sub-blocks
/// 8h + 2s (values 0..15) and 8h + 2s + 1 (16..31).
/// </summary>
public struct Q2_KRows : IRowFormat, IInt8RowFormat<Q2_KRows.Words>
{
    public ArrayView<UInt4> Blocks;
    /// <summary>Per super-block: d, dmin.</summary>
    public ArrayView<ushort> Scales;
    public int SuperBlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        int superBlock = unit >> 3, half = unit >> 2 & 1, part = (unit >> 1) & 1, pair = unit & 1;
        long index = (long)row * SuperBlocksPerRow + superBlock;
        long first = index * 5;
        float d = (float)Interop.IntAsFloat(Scales[2 * index]);
        float dmin = (float)Interop.IntAsFloat(Scales[2 * index + 1]);
        var scales = Blocks[first];
        var q = Blocks[first + 1 + 2 * half + part];
        int subBlockA = 8 * half + 4 * pair + part; // shift 2s with s = 2·pair
        uint scA = ScaleByte(scales, subBlockA), scB = ScaleByte(scales, subBlockA + 2);
        var u = new Unit32
        {
            ScaleA = d * (scA & 0xF), ScaleB = d * (scB & 0xF),
            OffsetA = -(dmin * (scA >> 4)), OffsetB = -(dmin * (scB >> 4)),
        };
        int shiftA = 4 * pair, shiftB = 4 * pair + 2;
        u.A0 = Two(q.X, shiftA); u.A1 = Two(q.Y, shiftA); u.A2 = Two(q.Z, shiftA); u.A3 = Two(q.W, shiftA);
        u.B0 = Two(q.X, shiftB); u.B1 = Two(q.Y, shiftB); u.B2 = Two(q.Z, shiftB); u.B3 = Two(q.W, shiftB);
        return u;
    }

    /// <summary>The super-block's 16 scale bytes, one block's two 2-bit words, and the super-block's fp16 d and dmin.</summary>
    public struct Words
    {
        public UInt4 ScaleBytes, A, B;
        public ushort Scale, Min;
    }

    public Words Fetch(int row, int block)
    {
        long start = (long)row * SuperBlocksPerRow; // loop-invariant (Q4_KRows.Fetch)
        var words = Blocks.SubView(start * 5);
        var scales = Scales.SubView(2 * start);
        int superBlock = block >> 3, first = superBlock * 5, half = (block >> 2) & 1;
        return new Words
        {
            ScaleBytes = words[first], A = words[first + 1 + 2 * half], B = words[first + 2 + 2 * half],
            Scale = scales[2 * superBlock], Min = scales[2 * superBlock + 1],
        };
    }

    /// <summary>
    /// d_x·(d·(sc_a·Σ_a q·x_q + sc_b·Σ_b q·x_q) − dmin·(m_a·Σ_a x_q + m_b·Σ_b x_q)) over the two 16-value halves a, b:
    /// one dp4a chain per half, and the low half's Σx_q by dp4a against ones (the high half's is Σx_q minus it).
    /// </summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        int half = (block >> 2) & 1, s = block & 3;
        var scales = words.ScaleBytes;
        var a = words.A;
        var b = words.B;
        int shift = 2 * s;
        const uint Twos = 0x03030303;
        int dotA = Int8Math.Dot16((a.X >> shift) & Twos, (a.Y >> shift) & Twos, (a.Z >> shift) & Twos, (a.W >> shift) & Twos, x.Low, 0);
        int dotB = Int8Math.Dot16((b.X >> shift) & Twos, (b.Y >> shift) & Twos, (b.Z >> shift) & Twos, (b.W >> shift) & Twos, x.High, 0);
        int sumA = Int8Math.SumLowHalf(x);
        uint scA = ScaleByte(scales, 8 * half + 2 * s), scB = ScaleByte(scales, 8 * half + 2 * s + 1);
        int scaled = (int)(scA & 0xF) * dotA + (int)(scB & 0xF) * dotB;
        int mins = (int)(scA >> 4) * sumA + (int)(scB >> 4) * (x.Sum - sumA);
        float d = (float)Interop.IntAsFloat(words.Scale);
        float dmin = (float)Interop.IntAsFloat(words.Min);
        return x.Scale * (d * scaled - dmin * mins);
    }

    public int PieceA(int unit) => 256 * (unit >> 3) + 128 * ((unit >> 2) & 1) + 64 * (unit & 1) + 16 * ((unit >> 1) & 1);
    public int PieceB(int unit) => PieceA(unit) + 32;

    /// <summary>Byte <paramref name="i"/> (0..15) of the four words, without branches.</summary>
    internal static uint ScaleByte(UInt4 w, int i) => Bits.ByteAt(w, i);

    /// <summary>Four 2-bit levels: the bits at <paramref name="shift"/> of each byte.</summary>
    private static Float4 Two(uint w, int shift) => new(
        Bits.Small((w >> shift) & 3), Bits.Small((w >> (8 + shift)) & 3),
        Bits.Small((w >> (16 + shift)) & 3), Bits.Small((w >> (24 + shift)) & 3));
}
