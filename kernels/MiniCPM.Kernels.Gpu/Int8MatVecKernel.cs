using ILGPU;
using MiniCPM.Kernels.Gpu.RowFormats;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="Int8MatVecKernel"/>: W·X[t] with X as int8 blocks, handed to <typeparamref name="TOutput"/>.</summary>
public struct Int8MatVecArgs<TFormat, TWords, TOutput>
    where TFormat : struct, IInt8RowFormat<TWords> where TWords : struct where TOutput : struct, IRowPairOutput
{
    public TFormat Weights;
    public Int8Blocks X;
    public int Rows, Blocks;
    /// <summary>Tokens: the grid is groups × tokens, a token's groups one after another.</summary>
    public int Tokens;
    /// <summary>Warps per row pair: 1, 2 or 4 (<see cref="Int8MatVecKernel.TeamWarps"/> unless a bench overrides it).</summary>
    public int TeamWarps;
    public TOutput Output;
}

/// <summary>
/// Matrix × int8-quantized activations for a few tokens (decode), llama.cpp's mmvq: per 32-value block a lane loads
/// the weights with one 16-byte load (two for Q8_0), multiplies them against the activation block's bytes with eight
/// <c>dp4a</c> (4 multiply-adds each) and adds d_w·d_x·Σ with one FMA (plus a min term for the formats with mins) — about 20 instructions per block where the
/// float path spends ~100, so the kernel is bound by memory, not issue. Team layout as <see cref="MatMulKernel"/>
/// (two rows per team of 1, 2 or 4 warps; see <see cref="TeamWarps"/>); each group computes one token, so each token
/// reads the weights again, from L2 after the first: a row range's groups for every token are adjacent in the grid
/// (prefill takes the float path that shares each load). Which two rows a team takes, and what becomes of their sums,
/// is <typeparamref name="TOutput"/>'s.
/// </summary>
public static class Int8MatVecKernel
{
    /// <summary>The team width for rows of <paramref name="cols"/> columns: the float kernel's (one warp below 8192
    /// columns, the whole group from there).</summary>
    public static int TeamWarps(int cols) => MatMulKernel.TeamWarps(cols);

    /// <summary>Groups per token for <paramref name="rows"/> rows with teams of <paramref name="teamWarps"/> warps.</summary>
    public static int Groups(int rows, int teamWarps)
    {
        int rowsPerGroup = RowsPerGroup(teamWarps);
        return (rows + rowsPerGroup - 1) / rowsPerGroup;
    }

    /// <summary>The consecutive rows one group computes: group g has rows g·RowsPerGroup … (8, 4 or 2).</summary>
    public static int RowsPerGroup(int teamWarps) => MatMulKernel.RowsPerTeam * (MatMulKernel.WarpsPerGroup / teamWarps);

    /// <summary>The plain product.</summary>
    public static void Kernel<TFormat, TWords, TOutput>(Int8MatVecArgs<TFormat, TWords, TOutput> a)
        where TFormat : struct, IInt8RowFormat<TWords> where TWords : struct where TOutput : struct, IRowPairOutput =>
        Run(a, default(NoTail));

    /// <summary>The product, then <paramref name="tail"/> by every group once its outputs are written (e.g. <see cref="RmsNormTail"/>).</summary>
    public static void KernelThenTail<TFormat, TWords, TOutput, TTail>(Int8MatVecArgs<TFormat, TWords, TOutput> a, TTail tail)
        where TFormat : struct, IInt8RowFormat<TWords> where TWords : struct where TOutput : struct, IRowPairOutput
        where TTail : struct, IMatVecTail =>
        Run(a, tail);

    private static void Run<TFormat, TWords, TOutput, TTail>(Int8MatVecArgs<TFormat, TWords, TOutput> a, TTail tail)
        where TFormat : struct, IInt8RowFormat<TWords> where TWords : struct where TOutput : struct, IRowPairOutput
        where TTail : struct, IMatVecTail
    {
        const int Lanes = MatMulKernel.Lanes, WarpsPerGroup = MatMulKernel.WarpsPerGroup;
        int teamWarps = a.TeamWarps, teamSize = teamWarps * Lanes;
        int lane = Group.IdxX & (Lanes - 1), warp = Group.IdxX / Lanes;
        int team = warp / teamWarps, member = (warp % teamWarps) * Lanes + lane;
        // Tokens vary fastest along the grid: the groups of one row range for every token run side by side, so a
        // batch's later tokens find the weights in L2 (token-slowest, each token streamed the matrix from memory again).
        int token = Grid.IdxX % a.Tokens, group = Grid.IdxX / a.Tokens;
        int pair = group * (WarpsPerGroup / teamWarps) + team;
        bool live = pair * MatMulKernel.RowsPerTeam < a.Rows; // a dead team still joins the shuffles and barriers below
        int row0 = a.Output.First(pair), second = a.Output.Second(pair);
        int row1 = IntrinsicMath.Min(second, a.Rows - 1);
        var xs = a.X.FromToken(token); // the token's blocks: a view made once, so each block's address is 32-bit math

        int blocks = live ? a.Blocks : 0;
        float s0 = 0, s1 = 0;
        if (member < blocks)
        {
            // One block ahead: every load of block b + teamSize is issued before block b is computed, so an iteration
            // costs one memory round trip whatever order ptxas picks. Left to itself it split a block's loads into two
            // waves around the first dp4a to save registers (Q4_0 fell from 70% to 63% of copy on an H200). The last
            // round fetches its own block again (cached) rather than branch.
            int b = member;
            var x = xs.Block(b);
            var w0 = a.Weights.Fetch(row0, b);
            var w1 = a.Weights.Fetch(row1, b);
            while (true)
            {
                int next = b + teamSize, ahead = IntrinsicMath.Min(next, blocks - 1);
                var xAhead = xs.Block(ahead);
                var w0Ahead = a.Weights.Fetch(row0, ahead);
                var w1Ahead = a.Weights.Fetch(row1, ahead);
                s0 += a.Weights.Dot(w0, b, x);
                s1 += a.Weights.Dot(w1, b, x);
                if (next >= blocks) break;
                b = next;
                x = xAhead;
                w0 = w0Ahead;
                w1 = w1Ahead;
            }
        }

        // Both rows' sums in one butterfly: lanes 0..15 end with row 0's, lanes 16..31 with row 1's. No thread returns
        // early: the whole group reaches the tail.
        float mine = WarpMath.Sum2(s0, s1);
        if (teamWarps > 1)
        {
            // The team's warps meet in shared memory; its first thread adds them up in warp order.
            var partial = SharedMemory.Allocate<float>(WarpsPerGroup * 2);
            if ((lane & 15) == 0) partial[warp * 2 + (lane >> 4)] = mine;
            Group.Barrier();
            if (member == 0 && live)
            {
                float total0 = 0, total1 = 0;
                for (int w = team * teamWarps; w < (team + 1) * teamWarps; w++)
                {
                    total0 += partial[w * 2];
                    total1 += partial[w * 2 + 1];
                }
                a.Output.Write(row0, second, token, total0, total1);
            }
        }
        else
        {
            float other = Warp.ShuffleXor(mine, 16); // lane 0 holds both rows' sums
            if (live && lane == 0) a.Output.Write(row0, second, token, mine, other);
        }
        tail.Finish(token, group);
    }
}
