using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q3_K repacked on upload into 7 aligned words per super-block (the file's 110-byte blocks allow no vector load):
/// word 0 = [d][2 zero bytes][the 12 packed scale bytes], words 1..2 hmask, words 3..6 qs. Value 128h + 32s + 16p + l
/// is 2 bits of qs byte 32h + 16p + l at shift 2s plus bit 4h + s of hmask byte 16p + l, in sub-block 8h + 2s + p:
/// w = d·(sc − 32)·q with q = low2 − 4 when the hmask bit is clear, low2 when set. A unit is one qs word (h, p) at two
/// shifts 2s, 2s + 2, as in <see cref="Q2_KRows"/>; the levels are handed over centred (q itself, −4..3) with offset −0,
/// so the products and even zero signs are ggml's. For int8 activations a 32-value activation block j = 4h + s is qs
/// words (h, 0) and (h, 1) at shift 2s with hmask words 0 and 1 at bit 4h + s: sub-blocks 8h + 2s and 8h + 2s + 1.
/// </summary>
public struct Q3_KRows : IRowFormat, IInt8RowFormat<Q3_KRows.Words>
{
    public ArrayView<UInt4> Blocks;
    public int SuperBlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        int superBlock = unit >> 3, half = unit >> 2 & 1, part = (unit >> 1) & 1, pair = unit & 1;
        long first = ((long)row * SuperBlocksPerRow + superBlock) * 7;
        var head = Blocks[first];
        float d = Bits.HalfLow(head.X);
        var mask = Blocks[first + 1 + part];
        var q = Blocks[first + 3 + 2 * half + part];
        int subBlockA = 8 * half + 4 * pair + part;
        var u = new Unit32
        {
            ScaleA = d * (Scale(head, subBlockA) - 32), ScaleB = d * (Scale(head, subBlockA + 2) - 32),
            OffsetA = -0f, OffsetB = -0f,
        };
        int sA = 2 * pair, sB = 2 * pair + 1, bitA = 4 * half + sA, bitB = 4 * half + sB;
        u.A0 = Three(q.X, mask.X, 2 * sA, bitA); u.A1 = Three(q.Y, mask.Y, 2 * sA, bitA);
        u.A2 = Three(q.Z, mask.Z, 2 * sA, bitA); u.A3 = Three(q.W, mask.W, 2 * sA, bitA);
        u.B0 = Three(q.X, mask.X, 2 * sB, bitB); u.B1 = Three(q.Y, mask.Y, 2 * sB, bitB);
        u.B2 = Three(q.Z, mask.Z, 2 * sB, bitB); u.B3 = Three(q.W, mask.W, 2 * sB, bitB);
        return u;
    }

    /// <summary>The super-block's head (d, packed scales), its two high-bit mask words and one block's two 2-bit words.</summary>
    public struct Words
    {
        public UInt4 Head, MaskA, MaskB, A, B;
    }

    public Words Fetch(int row, int block)
    {
        var words = Blocks.SubView((long)row * SuperBlocksPerRow * 7); // loop-invariant (Q4_KRows.Fetch)
        int first = (block >> 3) * 7, half = (block >> 2) & 1;
        return new Words
        {
            Head = words[first], MaskA = words[first + 1], MaskB = words[first + 2],
            A = words[first + 3 + 2 * half], B = words[first + 4 + 2 * half],
        };
    }

    /// <summary>
    /// d_x·d·((sc_a − 32)·Σ_a q·x_q + (sc_b − 32)·Σ_b q·x_q) over the two 16-value halves, one dp4a chain per half over
    /// u = q + 4 = 0..7 as they are (positive signed bytes); the −4 is paid once per half through Σx_q (as
    /// <see cref="Q6_KRows.Dot"/> pays its −32). Exact integers: the same sums as centring each byte first.
    /// </summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        int half = (block >> 2) & 1, s = block & 3;
        var head = words.Head;
        var maskA = words.MaskA;
        var maskB = words.MaskB;
        var a = words.A;
        var b = words.B;
        int shift = 2 * s, bit = 4 * half + s;
        int dotA = Int8Math.Dot16(Levels(a.X, maskA.X, shift, bit), Levels(a.Y, maskA.Y, shift, bit),
            Levels(a.Z, maskA.Z, shift, bit), Levels(a.W, maskA.W, shift, bit), x.Low, 0);
        int dotB = Int8Math.Dot16(Levels(b.X, maskB.X, shift, bit), Levels(b.Y, maskB.Y, shift, bit),
            Levels(b.Z, maskB.Z, shift, bit), Levels(b.W, maskB.W, shift, bit), x.High, 0);
        int sumA = Int8Math.SumLowHalf(x), sumB = x.Sum - sumA;
        int subBlock = 8 * half + 2 * s;
        int total = (Scale(head, subBlock) - 32) * (dotA - 4 * sumA) + (Scale(head, subBlock + 1) - 32) * (dotB - 4 * sumB);
        return x.Scale * (Bits.HalfLow(head.X) * total);
    }

    /// <summary>Four levels u = q + 4 = low2 + 4·hbit as bytes 0..7: 2 bits at <paramref name="shift"/>, hmask bit <paramref name="bit"/>.</summary>
    private static uint Levels(uint q, uint mask, int shift, int bit) =>
        ((q >> shift) & 0x03030303) | (((mask >> bit) & 0x01010101) << 2);

    public int PieceA(int unit) => 256 * (unit >> 3) + 128 * ((unit >> 2) & 1) + 64 * (unit & 1) + 16 * ((unit >> 1) & 1);
    public int PieceB(int unit) => PieceA(unit) + 32;

    /// <summary>ggml's 6-bit scale j of the 12 packed bytes (word 0's bytes 4..15), without branches: the low 4 bits
    /// are byte j's low nibble for j &lt; 8, byte j − 8's high nibble from there.</summary>
    internal static int Scale(UInt4 head, int j)
    {
        uint packed = Packed(head, j & 7);
        uint low4 = Bits.Select(packed & 0xF, packed >> 4, j >> 3);
        uint high2 = (Packed(head, 8 + (j & 3)) >> (2 * (j >> 2))) & 3;
        return (int)(low4 | (high2 << 4));
    }

    private static uint Packed(UInt4 head, int i) => Q2_KRows.ScaleByte(head, i + 4);

    /// <summary>Four levels low2 + 4·hbit − 4 (= ggml's q): 2 bits at <paramref name="shift"/>, hmask bit <paramref name="bit"/>.</summary>
    private static Float4 Three(uint q, uint mask, int shift, int bit) => new(
        Q5_1Rows.Level(((q >> shift) & 3) | (((mask >> bit) & 1) << 2), 8388612f),
        Q5_1Rows.Level(((q >> (8 + shift)) & 3) | (((mask >> (8 + bit)) & 1) << 2), 8388612f),
        Q5_1Rows.Level(((q >> (16 + shift)) & 3) | (((mask >> (16 + bit)) & 1) << 2), 8388612f),
        Q5_1Rows.Level(((q >> (24 + shift)) & 3) | (((mask >> (24 + bit)) & 1) << 2), 8388612f));
}
