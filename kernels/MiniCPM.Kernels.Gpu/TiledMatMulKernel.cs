using ILGPU;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Matrix × many tokens through shared-memory tiles (prefill and the vision tower), for every weight format; same
/// arguments and results as <see cref="MatMulKernel"/> up to float summation order. A group owns a tile of
/// <see cref="TileRows"/> weight rows × <see cref="TileTokens"/> tokens and walks the columns one 32-column unit at a
/// time: a quarter of the threads load one row's unit each through the row format and dequantize it into shared
/// memory, every thread loads eight of the tokens' activations at the same 32 columns, and then each thread
/// accumulates a 4 rows × 4 tokens register block over those 32 columns. Each loaded weight is thereby reused by 64
/// tokens (MatMulKernel: 4) and each activation by 64 rows. Plain CUDA-core FMAs: no tensor cores, which the simulator
/// could not validate. A <see cref="MatMulBatch"/> runs several such products, one per grid z index.
/// </summary>
public static class TiledMatMulKernel
{
    public const int TileRows = 64;
    public const int TileTokens = 64;
    public const int GroupSize = 256;
    /// <summary>Threads along a tile's rows (and along its tokens): 16 × 16 threads, each 4 adjacent rows × 4 adjacent tokens.</summary>
    private const int Across = 16;
    private const int UnitCols = 32;

    public static void Kernel<TFormat>(MatMulArgs<TFormat, RowPairStore> a, MatMulBatch batch) where TFormat : struct, IRowFormat
    {
        // Column-major tiles: ws[k · 64 + row] is the dequantized weight, xs[k · 64 + token] the activation, k = the
        // column's place in the unit (0..15 piece A, 16..31 piece B), so any format's unit order lines up by itself.
        // Stored as floats, read as Float4s: a thread's 4 rows (4 tokens) are adjacent, one 16-byte shared load each.
        var ws4 = SharedMemory.Allocate<Float4>(UnitCols * TileRows / 4);
        var xs4 = SharedMemory.Allocate<Float4>(UnitCols * TileTokens / 4);
        var ws = ws4.Cast<float>();
        var xs = xs4.Cast<float>();
        int thread = Group.IdxX;
        int row0 = Grid.IdxX * TileRows, token0 = Grid.IdxY * TileTokens;
        int across = thread % Across, down = thread / Across; // this thread's rows 4·across + i, tokens 4·down + j

        var loads = new TileLoads<TFormat>(a, batch, thread);
        int xSlot = loads.Quarter * 8 * TileTokens + loads.Token; // a warp's shared stores fill 32 consecutive floats

        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        int units = a.Cols / UnitCols;
        for (int unit = 0; unit < units; unit++)
        {
            if (loads.LoadsWeights) StoreUnit(ws, thread, loads.Weights(unit));
            loads.Activations(unit, out var v0, out var v1);
            xs[xSlot] = v0.X; xs[xSlot + TileTokens] = v0.Y; xs[xSlot + 2 * TileTokens] = v0.Z; xs[xSlot + 3 * TileTokens] = v0.W;
            xs[xSlot + 4 * TileTokens] = v1.X; xs[xSlot + 5 * TileTokens] = v1.Y; xs[xSlot + 6 * TileTokens] = v1.Z; xs[xSlot + 7 * TileTokens] = v1.W;
            Group.Barrier(); // the tiles are complete

            for (int k = 0; k < UnitCols; k++)
            {
                var w = ws4[k * (TileRows / 4) + across];
                var t = xs4[k * (TileTokens / 4) + down];
                c00 += w.X * t.X; c01 += w.X * t.Y; c02 += w.X * t.Z; c03 += w.X * t.W;
                c10 += w.Y * t.X; c11 += w.Y * t.Y; c12 += w.Y * t.Z; c13 += w.Y * t.W;
                c20 += w.Z * t.X; c21 += w.Z * t.Y; c22 += w.Z * t.Z; c23 += w.Z * t.W;
                c30 += w.W * t.X; c31 += w.W * t.Y; c32 += w.W * t.Z; c33 += w.W * t.W;
            }
            Group.Barrier(); // everyone is done with the tiles before the next unit overwrites them
        }

        int row = row0 + 4 * across, token = token0 + 4 * down;
        long y = Grid.IdxZ * batch.Y;
        Write(a, y, row, token, c00, c01, c02, c03);
        Write(a, y, row + 1, token, c10, c11, c12, c13);
        Write(a, y, row + 2, token, c20, c21, c22, c23);
        Write(a, y, row + 3, token, c30, c31, c32, c33);
    }

    /// <summary>The unit's 32 true weights (scale · level + offset) into column-major shared memory at <paramref name="row"/>.</summary>
    private static void StoreUnit(ArrayView<float> ws, int row, Unit32 w)
    {
        StorePiece(ws, row, w.A0, w.A1, w.A2, w.A3, w.ScaleA, w.OffsetA);
        StorePiece(ws, row + 16 * TileRows, w.B0, w.B1, w.B2, w.B3, w.ScaleB, w.OffsetB);
    }

    private static void StorePiece(ArrayView<float> ws, int at, Float4 q0, Float4 q1, Float4 q2, Float4 q3, float scale, float offset)
    {
        Store4(ws, at, q0, scale, offset);
        Store4(ws, at + 4 * TileRows, q1, scale, offset);
        Store4(ws, at + 8 * TileRows, q2, scale, offset);
        Store4(ws, at + 12 * TileRows, q3, scale, offset);
    }

    private static void Store4(ArrayView<float> ws, int at, Float4 q, float scale, float offset)
    {
        ws[at] = scale * q.X + offset;
        ws[at + TileRows] = scale * q.Y + offset;
        ws[at + 2 * TileRows] = scale * q.Z + offset;
        ws[at + 3 * TileRows] = scale * q.W + offset;
    }

    /// <summary>One row's sums for the thread's four tokens (token … token + 3), each only when inside the matrix.</summary>
    private static void Write<TFormat>(MatMulArgs<TFormat, RowPairStore> a, long y, int row, int token, float s0, float s1, float s2, float s3)
        where TFormat : struct, IRowFormat
    {
        if (row >= a.Rows) return;
        float bias = a.Output.HasBias != 0 ? a.Output.Bias[row] : 0f;
        Write(a, y, row, token, s0 + bias);
        Write(a, y, row, token + 1, s1 + bias);
        Write(a, y, row, token + 2, s2 + bias);
        Write(a, y, row, token + 3, s3 + bias);
    }

    private static void Write<TFormat>(MatMulArgs<TFormat, RowPairStore> a, long y, int row, int token, float sum) where TFormat : struct, IRowFormat
    {
        if (token >= a.Tokens) return;
        long index = y + (long)token * a.Output.YStride + row;
        if (a.Output.Accumulate != 0) sum += a.Output.Y[index];
        a.Output.Y[index] = sum;
    }
}
