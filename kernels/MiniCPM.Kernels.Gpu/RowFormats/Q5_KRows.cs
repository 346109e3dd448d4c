using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q5_K in its file layout (176-byte super-blocks are 16-byte aligned: 11 words each). Word 0 holds d, dmin and the
/// 12 packed 6-bit (scale, min) bytes (as Q4_K), words 1..2 the 32 qh bytes, words 3..10 the 128 nibble bytes, 32 per
/// group of two sub-blocks. A unit is 16 of a group's bytes, as in Q4_K: low nibbles are 16 values of sub-block 2g
/// (piece A, fifth bit = bit 2g of qh[l]), high nibbles the same positions l of sub-block 2g+1 (bit 2g+1);
/// w = d·sc·q − dmin·m.
/// </summary>
public struct Q5_KRows : IRowFormat
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

    public int PieceA(int unit) => 256 * (unit >> 3) + 64 * ((unit >> 1) & 3) + 16 * (unit & 1);
    public int PieceB(int unit) => PieceA(unit) + 32;

    /// <summary>Four levels: each byte's nibble at <paramref name="lowShift"/>, bit <paramref name="bit"/> of the qh byte as 16.</summary>
    private static Float4 Five(uint ql, int lowShift, uint qh, int bit) => new(
        Bits.Small(((ql >> lowShift) & 0xF) | (((qh >> bit) & 1) << 4)),
        Bits.Small(((ql >> (8 + lowShift)) & 0xF) | (((qh >> (8 + bit)) & 1) << 4)),
        Bits.Small(((ql >> (16 + lowShift)) & 0xF) | (((qh >> (16 + bit)) & 1) << 4)),
        Bits.Small(((ql >> (24 + lowShift)) & 0xF) | (((qh >> (24 + bit)) & 1) << 4)));
}
