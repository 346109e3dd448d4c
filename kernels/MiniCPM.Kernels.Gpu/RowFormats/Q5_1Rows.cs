using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q5_1 split on upload into aligned low nibbles (one 16-byte word per block, laid out as Q4_0's) and four halves of
/// header per block: d, m, then the 32 fifth bits qh as two 16-bit halves (bit j belongs to value j). w = d·q + m.
/// </summary>
public struct Q5_1Rows : IRowFormat
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
