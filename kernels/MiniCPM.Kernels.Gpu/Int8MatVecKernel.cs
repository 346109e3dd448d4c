using ILGPU;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="Int8MatVecKernel"/>: Y[t] = W·X[t] (+ bias) (+ Y[t]) with X as int8 blocks.</summary>
public struct Int8MatVecArgs<TFormat> where TFormat : struct, IInt8RowFormat
{
    public TFormat Weights;
    public Int8Blocks X;
    public ArrayView<float> Y, Bias;
    public int YStride, Rows, Blocks, HasBias, Accumulate;
}

/// <summary>
/// Matrix × int8-quantized activations for a few tokens (decode), llama.cpp's mmvq: per 32-value block a lane loads
/// the weights with one 16-byte load (two for Q8_0), multiplies them against the activation block's bytes with eight
/// <c>dp4a</c> (4 multiply-adds each) and adds d_w·d_x·Σ with one FMA (plus a min term for the formats with mins) — about 20 instructions per block where the
/// float path spends ~100, so the kernel is bound by memory, not issue. Team layout as <see cref="MatMulKernel"/>
/// (two rows per team, one warp for short rows, the group's four warps for long ones); one token per grid row, so
/// each token re-reads the weights (from L2 for small batches; prefill takes the float path that shares them).
/// </summary>
public static class Int8MatVecKernel
{
    public static void Kernel<TFormat>(Int8MatVecArgs<TFormat> a) where TFormat : struct, IInt8RowFormat
    {
        const int Lanes = MatMulKernel.Lanes, WarpsPerGroup = MatMulKernel.WarpsPerGroup;
        int teamWarps = MatMulKernel.TeamWarps(a.Blocks * 32), teamSize = teamWarps * Lanes;
        int lane = Group.IdxX & (Lanes - 1), warp = Group.IdxX / Lanes;
        int team = warp / teamWarps, member = (warp % teamWarps) * Lanes + lane;
        int row0 = (Grid.IdxX * (WarpsPerGroup / teamWarps) + team) * MatMulKernel.RowsPerTeam;
        int row1 = IntrinsicMath.Min(row0 + 1, a.Rows - 1);
        bool live = row0 < a.Rows; // a dead team still joins the barrier below
        int token = Grid.IdxY;
        long xBlock = (long)token * a.X.BlocksPerToken;

        int blocks = live ? a.Blocks : 0;
        float s0 = 0, s1 = 0;
        for (int b = member; b < blocks; b += teamSize)
        {
            var x = a.X.Block(xBlock + b);
            s0 += a.Weights.BlockDot(row0, b, x);
            s1 += a.Weights.BlockDot(row1, b, x);
        }

        // Both rows' sums in one butterfly: lane 0 ends with row 0's, lane 16 with row 1's.
        float mine = WarpMath.Sum2(s0, s1);
        int which = lane >> 4;
        bool holder = (lane & 15) == 0;
        if (teamWarps > 1)
        {
            var partial = SharedMemory.Allocate<float>(WarpsPerGroup * 2);
            if (holder) partial[warp * 2 + which] = mine;
            Group.Barrier();
            if (Group.IdxX >= 2 || !live) return;
            float total = 0;
            for (int w = 0; w < WarpsPerGroup; w++) total += partial[w * 2 + Group.IdxX];
            Write(a, row0 + Group.IdxX, token, total);
            return;
        }
        if (!live || !holder) return;
        Write(a, row0 + which, token, mine);
    }

    private static void Write<TFormat>(Int8MatVecArgs<TFormat> a, int row, int token, float sum) where TFormat : struct, IInt8RowFormat
    {
        if (row >= a.Rows) return;
        if (a.HasBias != 0) sum += a.Bias[row];
        long index = (long)token * a.YStride + row;
        if (a.Accumulate != 0) sum += a.Y[index];
        a.Y[index] = sum;
    }
}
