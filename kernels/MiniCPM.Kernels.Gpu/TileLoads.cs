using ILGPU;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// One thread's share of loading a tiled kernel's 64 weight rows × 64 tokens per 32-column unit
/// (<see cref="TiledMatMulKernel"/>, <see cref="TensorCoreMatMulKernel"/>, 256 threads): the first 64 threads load one
/// weight row's unit each through the row format; every thread loads 8 activations of one token (quarters 0 and 1 at
/// the unit's piece A, 2 and 3 at piece B), so a warp's activation loads are 32 tokens' same 8 columns. Rows and tokens
/// past the matrix load clamped / zero data and are never written. The batch entry is the grid's z index.
/// </summary>
internal readonly struct TileLoads<TFormat> where TFormat : struct, IRowFormat
{
    private const int TileRows = TiledMatMulKernel.TileRows, TileTokens = TiledMatMulKernel.TileTokens;

    private readonly TFormat _weights;
    private readonly ArrayView<Float4> _x;
    private readonly long _xRow;
    private readonly int _weightRow;

    /// <summary>Whether this thread loads a weight row (the first 64).</summary>
    public readonly bool LoadsWeights;

    /// <summary>This thread's token within the tile, and which 8 of the unit's 32 columns it loads.</summary>
    public readonly int Token, Quarter;

    private readonly bool _xLive;

    public TileLoads(MatMulArgs<TFormat, RowPairStore> a, MatMulBatch batch, int thread)
    {
        int entry = Grid.IdxZ, row0 = Grid.IdxX * TileRows, token0 = Grid.IdxY * TileTokens;
        _weights = a.Weights;
        LoadsWeights = thread < TileRows;
        _weightRow = entry * batch.WeightRows + IntrinsicMath.Min(row0 + thread, a.Rows - 1);
        Token = thread % TileTokens;
        Quarter = thread / TileTokens;
        _xLive = token0 + Token < a.Tokens;
        _x = a.X.Cast<Float4>();
        _xRow = ((long)entry * batch.Tokens + IntrinsicMath.Min(token0 + Token, a.Tokens - 1)) * (a.Cols / 4);
    }

    /// <summary>The unit's 32 weights of this thread's row (only where <see cref="LoadsWeights"/>).</summary>
    public Unit32 Weights(int unit) => _weights.Load(_weightRow, unit);

    /// <summary>This thread's 8 activations of the unit: two 16-byte loads.</summary>
    public void Activations(int unit, out Float4 v0, out Float4 v1)
    {
        int piece = Quarter < 2 ? _weights.PieceA(unit) : _weights.PieceB(unit);
        long p = _xRow + (piece + (Quarter & 1) * 8) / 4;
        v0 = _xLive ? _x[p] : default;
        v1 = _xLive ? _x[p + 1] : default;
    }
}
