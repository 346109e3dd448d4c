using ILGPU;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="MatMulKernel"/> and <see cref="TiledMatMulKernel"/>: W·X[t] for Tokens rows of X,
/// handed to <typeparamref name="TOutput"/> (the tiled kernel: <see cref="RowPairStore"/>'s fields, row by row).</summary>
public struct MatMulArgs<TFormat, TOutput> where TFormat : struct, IRowFormat where TOutput : struct, IRowPairOutput
{
    public TFormat Weights;
    /// <summary>Tokens × Cols activations.</summary>
    public ArrayView<float> X;
    public int Rows, Cols, Tokens;
    public TOutput Output;
}

/// <summary>
/// Matrix × activations for every weight format, dequantization fused into the inner loop. A team of warps owns two
/// rows and up to four tokens and splits the columns between its threads: per 32-column unit a thread loads both
/// rows' weights once (16-byte loads), then the tokens' activations (16-byte loads, shared by the two rows), so weights
/// stream from memory once per four tokens. A team is one warp for short rows (each lane gets several units) and the
/// whole group of four warps for long rows (so a matrix of few rows still spreads over every SM); warp shuffles, and
/// shared memory between a team's warps, reduce the partial sums. One token is the decode matrix-vector product.
/// Which two rows a team takes, and what becomes of their sums, is <typeparamref name="TOutput"/>'s.
/// </summary>
public static class MatMulKernel
{
    public const int Lanes = 32;
    public const int WarpsPerGroup = 4;
    public const int GroupSize = Lanes * WarpsPerGroup;
    public const int RowsPerTeam = 2;
    public const int TokensPerGroup = 4;

    /// <summary>Warps per team for a row of <paramref name="cols"/> columns: split long rows across the group.</summary>
    public static int TeamWarps(int cols) => cols >= 8192 ? WarpsPerGroup : 1;

    /// <summary>Rows one group covers.</summary>
    public static int RowsPerGroup(int cols) => RowsPerTeam * (WarpsPerGroup / TeamWarps(cols));

    public static void Kernel<TFormat, TOutput>(MatMulArgs<TFormat, TOutput> a)
        where TFormat : struct, IRowFormat where TOutput : struct, IRowPairOutput
    {
        int teamWarps = TeamWarps(a.Cols), teamSize = teamWarps * Lanes;
        int lane = Group.IdxX & (Lanes - 1), warp = Group.IdxX / Lanes;
        int team = warp / teamWarps, member = (warp % teamWarps) * Lanes + lane;
        int pair = Grid.IdxX * (WarpsPerGroup / teamWarps) + team;
        bool live = pair * RowsPerTeam < a.Rows; // a dead team still joins the shuffles and barrier below
        int row0 = a.Output.First(pair), second = a.Output.Second(pair);
        int row1 = IntrinsicMath.Min(second, a.Rows - 1);
        int firstToken = Grid.IdxY * TokensPerGroup;
        int tokens = IntrinsicMath.Min(TokensPerGroup, a.Tokens - firstToken);

        var x = a.X.Cast<Float4>();
        int xStride = a.Cols / 4;
        long xBase = (long)firstToken * xStride;
        int units = live ? a.Cols / 32 : 0;
        float s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        for (int unit = member; unit < units; unit += teamSize)
        {
            var w0 = a.Weights.Load(row0, unit);
            var w1 = a.Weights.Load(row1, unit);
            long pa = xBase + a.Weights.PieceA(unit) / 4, pb = xBase + a.Weights.PieceB(unit) / 4;
            var d = Dot2(w0, w1, x, pa, pb);
            s00 += d.X; s10 += d.Y;
            if (tokens > 1)
            {
                d = Dot2(w0, w1, x, pa + xStride, pb + xStride);
                s01 += d.X; s11 += d.Y;
            }
            if (tokens > 2)
            {
                d = Dot2(w0, w1, x, pa + 2 * xStride, pb + 2 * xStride);
                s02 += d.X; s12 += d.Y;
            }
            if (tokens > 3)
            {
                d = Dot2(w0, w1, x, pa + 3 * xStride, pb + 3 * xStride);
                s03 += d.X; s13 += d.Y;
            }
        }

        // Reduce within each warp, then across a team's warps. Decode (one token) reduces its two sums together (lane
        // 0 ends with row 0's, lane 16 with row 1's); more tokens reduce all eight, lane 4v ending with sum v = 4·row + token.
        // Either way the lane 16 above a row-0 holder holds row 1's sum of the same token.
        int slot; // which sum this lane holds: 4·row + token
        float mine;
        if (tokens == 1)
        {
            mine = WarpMath.Sum2(s00, s10);
            slot = (lane >> 4) << 2;
        }
        else
        {
            mine = WarpMath.Sum8(s00, s01, s02, s03, s10, s11, s12, s13);
            slot = lane >> 2;
        }
        bool holder = tokens == 1 ? (lane & 15) == 0 : (lane & 3) == 0;
        if (teamWarps > 1)
        {
            var partial = SharedMemory.Allocate<float>(WarpsPerGroup * 8);
            if (holder) partial[warp * 8 + slot] = mine;
            Group.Barrier();
            int token = Group.IdxX;
            if (token >= tokens || !live) return;
            float total0 = 0, total1 = 0;
            for (int w = 0; w < WarpsPerGroup; w++)
            {
                total0 += partial[w * 8 + token];
                total1 += partial[w * 8 + 4 + token];
            }
            a.Output.Write(row0, second, firstToken + token, total0, total1);
            return;
        }
        float other = Warp.ShuffleXor(mine, 16);
        if (!live || !holder || slot >= tokens) return; // the row-0 holders: slot = token < 4
        a.Output.Write(row0, second, firstToken + slot, mine, other);
    }

    private struct Pair
    {
        public float X, Y;
    }

    /// <summary>Both rows' unit dot products with one token's 32 activations (pieces A and B).</summary>
    private static Pair Dot2(Unit32 w0, Unit32 w1, ArrayView<Float4> x, long pa, long pb)
    {
        var a0 = x[pa]; var a1 = x[pa + 1]; var a2 = x[pa + 2]; var a3 = x[pa + 3];
        var b0 = x[pb]; var b1 = x[pb + 1]; var b2 = x[pb + 2]; var b3 = x[pb + 3];
        float sumA = Float4.Sum(a0) + Float4.Sum(a1) + Float4.Sum(a2) + Float4.Sum(a3);
        float sumB = Float4.Sum(b0) + Float4.Sum(b1) + Float4.Sum(b2) + Float4.Sum(b3);
        Pair result;
        result.X = w0.ScaleA * (Float4.Dot(w0.A0, a0) + Float4.Dot(w0.A1, a1) + Float4.Dot(w0.A2, a2) + Float4.Dot(w0.A3, a3))
                 + w0.ScaleB * (Float4.Dot(w0.B0, b0) + Float4.Dot(w0.B1, b1) + Float4.Dot(w0.B2, b2) + Float4.Dot(w0.B3, b3))
                 + w0.OffsetA * sumA + w0.OffsetB * sumB;
        result.Y = w1.ScaleA * (Float4.Dot(w1.A0, a0) + Float4.Dot(w1.A1, a1) + Float4.Dot(w1.A2, a2) + Float4.Dot(w1.A3, a3))
                 + w1.ScaleB * (Float4.Dot(w1.B0, b0) + Float4.Dot(w1.B1, b1) + Float4.Dot(w1.B2, b2) + Float4.Dot(w1.B3, b3))
                 + w1.OffsetA * sumA + w1.OffsetB * sumB;
        return result;
    }
}
