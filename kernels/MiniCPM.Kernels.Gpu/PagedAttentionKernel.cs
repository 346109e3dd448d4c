using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="PagedAttentionKernel"/>.</summary>
public struct AttentionArgs
{
    /// <summary>Rotated queries, QueryStride floats per row (heads·d used); Output is [rows, heads·d].</summary>
    public ArrayView<float> Query, Output;
    public int QueryStride;
    /// <summary>This layer's cache, [slot, kvHeads·d]; slot = block·BlockSize + offset.</summary>
    public ArrayView<float> KeyCache, ValueCache;
    /// <summary>Per row: its position (it attends to positions 0..position) and where its block table starts.</summary>
    public ArrayView<int> Positions, TableStarts;
    /// <summary>The block tables of all sequences in the batch, concatenated.</summary>
    public ArrayView<int> BlockTables;
    public int Heads, GroupSize, HeadDim, BlockSize;
    public float Scale;
}

/// <summary>
/// Causal grouped-query attention over the paged KV cache, for decode and prefill alike (a prefill row attends to
/// the positions up to its own, which the same kernel's causal bound gives). One group of four warps per (row, query
/// head): the warps split the positions (split-K), each keeps an online softmax (running max, sum, weighted V), and
/// the four partial states merge through shared memory. A lane holds d/32 of the head's dimensions (d ≤ 128).
/// </summary>
public static class PagedAttentionKernel
{
    public const int Warps = 4;
    public const int GroupSize = 32 * Warps;
    public const int MaxHeadDim = 128;

    public static void Kernel(AttentionArgs a)
    {
        int row = Grid.IdxX / a.Heads, head = Grid.IdxX % a.Heads;
        int kvHead = head / a.GroupSize;
        int lane = Group.IdxX & 31, warp = Group.IdxX / 32;
        int kvWidth = a.Heads / a.GroupSize * a.HeadDim;
        long q = (long)row * a.QueryStride + head * a.HeadDim;
        long o = ((long)row * a.Heads + head) * a.HeadDim;

        // This lane's dimensions: lane, lane+32, lane+64, lane+96 (those < d).
        bool has0 = lane < a.HeadDim, has1 = lane + 32 < a.HeadDim, has2 = lane + 64 < a.HeadDim, has3 = lane + 96 < a.HeadDim;
        float q0 = has0 ? a.Query[q + lane] : 0, q1 = has1 ? a.Query[q + lane + 32] : 0;
        float q2 = has2 ? a.Query[q + lane + 64] : 0, q3 = has3 ? a.Query[q + lane + 96] : 0;

        float max = float.NegativeInfinity, sum = 0, o0 = 0, o1 = 0, o2 = 0, o3 = 0;
        int last = a.Positions[row], tableStart = a.TableStarts[row];
        for (int p = warp; p <= last; p += Warps)
        {
            long slot = (long)a.BlockTables[tableStart + p / a.BlockSize] * a.BlockSize + p % a.BlockSize;
            long k = slot * kvWidth + (long)kvHead * a.HeadDim;
            float partial = 0;
            if (has0) partial += q0 * a.KeyCache[k + lane];
            if (has1) partial += q1 * a.KeyCache[k + lane + 32];
            if (has2) partial += q2 * a.KeyCache[k + lane + 64];
            if (has3) partial += q3 * a.KeyCache[k + lane + 96];
            float score = WarpMath.Sum(partial) * a.Scale;
            float newMax = IntrinsicMath.Max(max, score);
            float correction = XMath.Exp(max - newMax), weight = XMath.Exp(score - newMax);
            sum = sum * correction + weight;
            if (has0) o0 = o0 * correction + weight * a.ValueCache[k + lane];
            if (has1) o1 = o1 * correction + weight * a.ValueCache[k + lane + 32];
            if (has2) o2 = o2 * correction + weight * a.ValueCache[k + lane + 64];
            if (has3) o3 = o3 * correction + weight * a.ValueCache[k + lane + 96];
            max = newMax;
        }

        // Merge the warps' partial softmax states.
        var maxes = SharedMemory.Allocate<float>(Warps);
        var sums = SharedMemory.Allocate<float>(Warps);
        var outs = SharedMemory.Allocate<float>(Warps * MaxHeadDim);
        if (lane == 0)
        {
            maxes[warp] = max;
            sums[warp] = sum;
        }
        outs[warp * MaxHeadDim + lane] = o0;
        outs[warp * MaxHeadDim + lane + 32] = o1;
        outs[warp * MaxHeadDim + lane + 64] = o2;
        outs[warp * MaxHeadDim + lane + 96] = o3;
        Group.Barrier();
        if (warp != 0) return;
        float total = float.NegativeInfinity;
        for (int w = 0; w < Warps; w++) total = IntrinsicMath.Max(total, maxes[w]);
        float denominator = 0, r0 = 0, r1 = 0, r2 = 0, r3 = 0;
        for (int w = 0; w < Warps; w++)
        {
            // A warp that saw no position has max −∞ and contributes nothing.
            float factor = sums[w] > 0 ? XMath.Exp(maxes[w] - total) : 0;
            denominator += sums[w] * factor;
            r0 += outs[w * MaxHeadDim + lane] * factor;
            r1 += outs[w * MaxHeadDim + lane + 32] * factor;
            r2 += outs[w * MaxHeadDim + lane + 64] * factor;
            r3 += outs[w * MaxHeadDim + lane + 96] * factor;
        }
        float inverse = 1f / denominator;
        if (has0) a.Output[o + lane] = r0 * inverse;
        if (has1) a.Output[o + lane + 32] = r1 * inverse;
        if (has2) a.Output[o + lane + 64] = r2 * inverse;
        if (has3) a.Output[o + lane + 96] = r3 * inverse;
    }
}
