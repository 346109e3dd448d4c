using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q5_1 split on upload into aligned low nibbles (one 16-byte word per block, laid out as Q4_0's) and four halves of
/// header per block: d, m, then the 32 fifth bits qh as two 16-bit halves (bit j belongs to value j). w = d·q + m.
/// </summary>
public struct Q5_1Rows : IRowFormat, IInt8RowFormat<Q5_1Rows.Words>
{
    public ArrayView<UInt4> Quants;
    /// <summary>Per block: d, m, qh bits 0..15, qh bits 16..31.</summary>
    public ArrayView<ushort> Scales;
    public int BlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        long block = (long)row * BlocksPerRow + unit;
        float d = (float)Interop.IntAsFloat(Scales[4 * block]);
        float m = (float)Interop.IntAsFloat(Scales[4 * block + 1]);
        uint low = Scales[4 * block + 2], high = Scales[4 * block + 3];
        var u = new Unit32 { ScaleA = d, ScaleB = d, OffsetA = m, OffsetB = m };
        Fill(ref u, Quants[block], low, high, 0);
        return u;
    }

    /// <summary>One block's nibbles, fp16 d and m, and the two halves of its fifth bits.</summary>
    public struct Words
    {
        public UInt4 Quants;
        public ushort Scale, Min, FifthLow, FifthHigh;
    }

    public Words Fetch(int row, int block)
    {
        long start = (long)row * BlocksPerRow; // loop-invariant: the block's offset stays 32-bit (Q4_KRows.Fetch)
        var scales = Scales.SubView(4 * start);
        return new Words
        {
            Quants = Quants.SubView(start)[block], Scale = scales[4 * block], Min = scales[4 * block + 1],
            FifthLow = scales[4 * block + 2], FifthHigh = scales[4 * block + 3],
        };
    }

    /// <summary>(d·d_x)·Σ q·x_q + m·s, as <see cref="Q4_1Rows.Dot"/> with 5-bit levels.</summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        int sum = FiveBitDot(words.Quants, words.FifthLow, words.FifthHigh, x);
        float d = (float)Interop.IntAsFloat(words.Scale);
        float m = (float)Interop.IntAsFloat(words.Min);
        return d * x.Scale * sum + m * x.MinTerm;
    }

    /// <summary>
    /// Σ q·x_q over a block's 5-bit levels q (0..31, plain positive bytes): nibbles of <paramref name="w"/> (low: values
    /// 0..15, high: 16..31), fifth bits from the two 16-bit halves of qh, eight dp4a.
    /// </summary>
    internal static int FiveBitDot(UInt4 w, uint low, uint high, Int8ActivationBlock x)
    {
        const uint Nibbles = 0x0F0F0F0F;
        int sum = Int8Math.Dot16(WithFifth(w.X & Nibbles, low), WithFifth(w.Y & Nibbles, low >> 4),
            WithFifth(w.Z & Nibbles, low >> 8), WithFifth(w.W & Nibbles, low >> 12), x.Low, 0);
        return Int8Math.Dot16(WithFifth((w.X >> 4) & Nibbles, high), WithFifth((w.Y >> 4) & Nibbles, high >> 4),
            WithFifth((w.Z >> 4) & Nibbles, high >> 8), WithFifth((w.W >> 4) & Nibbles, high >> 12), x.High, sum);
    }

    /// <summary>
    /// Four nibble bytes with bits 0..3 of <paramref name="fifth"/> as their bit 4 (byte i takes bit i): one multiply
    /// makes the four shifted copies f·2^4 + f·2^11 + f·2^18 + f·2^25 of f = fifth &amp; 15, which cannot overlap (4 bits
    /// each, 7 apart), so it is their OR, and the mask keeps bit i of copy i (bit 8i + 4).
    /// </summary>
    private static uint WithFifth(uint nibbles, uint fifth) => nibbles | (((fifth & 15) * 0x02040810u) & 0x10101010u);

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;

    /// <summary>
    /// 5-bit levels of a 32-value block minus <paramref name="zero"/>: nibbles of <paramref name="w"/> plus the fifth
    /// bits (low: values 0..15, high: 16..31).
    /// </summary>
    internal static void Fill(ref Unit32 u, UInt4 w, uint low, uint high, uint zero)
    {
        float bias = 8388608f + zero; // 2^23 + zero: one subtraction both undoes the exponent trick and centres
        u.A0 = Five(w.X, 0, low, bias); u.A1 = Five(w.Y, 0, low >> 4, bias);
        u.A2 = Five(w.Z, 0, low >> 8, bias); u.A3 = Five(w.W, 0, low >> 12, bias);
        u.B0 = Five(w.X, 4, high, bias); u.B1 = Five(w.Y, 4, high >> 4, bias);
        u.B2 = Five(w.Z, 4, high >> 8, bias); u.B3 = Five(w.W, 4, high >> 12, bias);
    }

    /// <summary>Four levels (see <see cref="Bits.Small"/>): each byte's nibble at <paramref name="shift"/>, bit i of
    /// <paramref name="fifth"/> as 16.</summary>
    private static Float4 Five(uint w, int shift, uint fifth, float bias) => new(
        Level(((w >> shift) & 0xF) | ((fifth & 1) << 4), bias),
        Level(((w >> (8 + shift)) & 0xF) | (((fifth >> 1) & 1) << 4), bias),
        Level(((w >> (16 + shift)) & 0xF) | (((fifth >> 2) & 1) << 4), bias),
        Level(((w >> (24 + shift)) & 0xF) | (((fifth >> 3) & 1) << 4), bias));

    internal static float Level(uint n, float bias) => Interop.IntAsFloat(0x4B000000u | n) - bias;
}
