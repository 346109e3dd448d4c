namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// 32 weights of one row (a "unit"), read by one lane: 16 that multiply the activations at <see cref="IRowFormat.PieceA"/>
/// and 16 at <see cref="IRowFormat.PieceB"/>. The true weight is Scale·value + Offset per piece, so quantized formats
/// hand over raw integer levels and apply the block scale once per piece (Offset carries zero points / mins).
/// </summary>
public struct Unit32
{
    public Float4 A0, A1, A2, A3, B0, B1, B2, B3;
    public float ScaleA, ScaleB, OffsetA, OffsetB;
}

/// <summary>
/// How the rows of a weight matrix lie in device memory, for the shared matrix kernels (<see cref="MatMulKernel"/>,
/// the embedding gather). Implementations are small structs holding device views; every row has Cols / 32 units.
/// </summary>
public interface IRowFormat
{
    /// <summary>The unit's 32 weights of <paramref name="row"/> (unit = 32-column slice, in the format's own order).</summary>
    Unit32 Load(int row, int unit);

    /// <summary>First column of the unit's piece A (16 consecutive columns).</summary>
    int PieceA(int unit);

    /// <summary>First column of the unit's piece B (16 consecutive columns).</summary>
    int PieceB(int unit);
}
