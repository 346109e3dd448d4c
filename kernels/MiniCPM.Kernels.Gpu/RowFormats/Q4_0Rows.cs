using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q4_0 split on upload into aligned nibbles (one 16-byte word per 32-value block) and fp16 scales. Byte j's low
/// nibble is value j, its high nibble value j + 16; w = d·(q − 8), so piece A is the low nibbles, piece B the high ones,
/// both handed over as centred levels q − 8.
/// </summary>
public struct Q4_0Rows : IRowFormat, IInt8RowFormat<Q4_0Rows.Words>
{
    public ArrayView<UInt4> Quants;
    public ArrayView<ushort> Scales;
    public int BlocksPerRow;

    public Unit32 Load(int row, int unit)
    {
        long block = (long)row * BlocksPerRow + unit;
        float d = (float)Interop.IntAsFloat(Scales[block]);
        var w = Quants[block];
        // Centred levels q − 8 with offset −0: d·(q − 8) is the CPU dequantizer's product bit for bit (d·q − 8d is
        // not: its zero is +0 where the CPU's is −0 for negative d).
        var u = new Unit32 { ScaleA = d, ScaleB = d, OffsetA = -0f, OffsetB = -0f };
        u.A0 = LowCentred(w.X); u.A1 = LowCentred(w.Y); u.A2 = LowCentred(w.Z); u.A3 = LowCentred(w.W);
        u.B0 = HighCentred(w.X); u.B1 = HighCentred(w.Y); u.B2 = HighCentred(w.Z); u.B3 = HighCentred(w.W);
        return u;
    }

    /// <summary>One block's nibbles and fp16 scale.</summary>
    public struct Words
    {
        public UInt4 Quants;
        public ushort Scale;
    }

    public Words Fetch(int row, int block)
    {
        long start = (long)row * BlocksPerRow; // loop-invariant: the block's offset stays 32-bit (Q4_KRows.Fetch)
        return new Words { Quants = Quants.SubView(start)[block], Scale = Scales.SubView(start)[block] };
    }

    /// <summary>d_x·d·Σ(q − 8)·x_q = d_x·d·(Σ q·x_q − 8·Σx_q): low nibbles meet x 0..15, high nibbles x 16..31.</summary>
    public float Dot(Words words, int block, Int8ActivationBlock x)
    {
        var w = words.Quants;
        const uint Nibbles = 0x0F0F0F0F;
        int sum = Int8Math.Dp4a(w.X & Nibbles, x.Low.X, 0);
        sum = Int8Math.Dp4a(w.Y & Nibbles, x.Low.Y, sum);
        sum = Int8Math.Dp4a(w.Z & Nibbles, x.Low.Z, sum);
        sum = Int8Math.Dp4a(w.W & Nibbles, x.Low.W, sum);
        sum = Int8Math.Dp4a((w.X >> 4) & Nibbles, x.High.X, sum);
        sum = Int8Math.Dp4a((w.Y >> 4) & Nibbles, x.High.Y, sum);
        sum = Int8Math.Dp4a((w.Z >> 4) & Nibbles, x.High.Z, sum);
        sum = Int8Math.Dp4a((w.W >> 4) & Nibbles, x.High.W, sum);
        return x.Scale * ((float)Interop.IntAsFloat(words.Scale) * (sum - 8 * x.Sum));
    }

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;

    /// <summary>2^23 + 8: subtracting it from the float with bits 0x4B000000 | q gives q − 8 exactly (see <see cref="Bits.Small"/>).</summary>
    private const float CentredBias = 8388616f;

    private static float Centred(uint q) => Interop.IntAsFloat(0x4B000000u | q) - CentredBias;

    private static Float4 LowCentred(uint w) =>
        new(Centred(w & 0xF), Centred((w >> 8) & 0xF), Centred((w >> 16) & 0xF), Centred((w >> 24) & 0xF));

    private static Float4 HighCentred(uint w) =>
        new(Centred((w >> 4) & 0xF), Centred((w >> 12) & 0xF), Centred((w >> 20) & 0xF), Centred((w >> 28) & 0xF));

    internal static Float4 Low(uint w) =>
        new(Bits.Small(w & 0xF), Bits.Small((w >> 8) & 0xF), Bits.Small((w >> 16) & 0xF), Bits.Small((w >> 24) & 0xF));

    internal static Float4 High(uint w) =>
        new(Bits.Small((w >> 4) & 0xF), Bits.Small((w >> 12) & 0xF), Bits.Small((w >> 20) & 0xF), Bits.Small((w >> 28) & 0xF));
}
