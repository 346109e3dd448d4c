using ILGPU;

namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// Q4_1 split on upload into aligned nibbles (one 16-byte word per 32-value block) and two fp16 halves per block
/// (d, m). Nibbles lie as in Q4_0 (low = values 0..15, high = 16..31); w = d·q + m, so m is both pieces' offset.
/// </summary>
public struct Q4_1Rows : IRowFormat
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

    public int PieceA(int unit) => 32 * unit;
    public int PieceB(int unit) => 32 * unit + 16;
}
