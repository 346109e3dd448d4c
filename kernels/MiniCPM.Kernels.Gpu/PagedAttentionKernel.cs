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
/// the positions up to its own, which the same kernel's causal bound gives). One group of eight warps per (row, query
/// head); the warps split the positions (split-K) in chunks of 32, one position per lane: each lane takes the whole
/// q·k dot product of its position (q from shared memory), the warp turns the 32 scores into one online-softmax step
/// (one max and one sum per chunk, not per position), then accumulates the chunk's values with each lane owning d/32
/// output dimensions and the weights broadcast by shuffles. The warps' partial states merge through shared memory.
/// </summary>
public static class PagedAttentionKernel
{
    public const int Warps = 8;
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

        var query = SharedMemory.Allocate<float>(MaxHeadDim);
        for (int i = Group.IdxX; i < a.HeadDim; i += GroupSize) query[i] = a.Query[q + i] * a.Scale;
        Group.Barrier();

        bool has0 = lane < a.HeadDim, has1 = lane + 32 < a.HeadDim, has2 = lane + 64 < a.HeadDim, has3 = lane + 96 < a.HeadDim;
        float max = float.NegativeInfinity, sum = 0, o0 = 0, o1 = 0, o2 = 0, o3 = 0;
        int last = a.Positions[row], tableStart = a.TableStarts[row];
        var keys = a.KeyCache.Cast<Float4>();
        for (int chunk = warp * 32; chunk <= last; chunk += GroupSize)
        {
            // Scores: lane j takes position chunk + j.
            int p = chunk + lane;
            float score = float.NegativeInfinity;
            if (p <= last)
            {
                long slot = (long)a.BlockTables[tableStart + p / a.BlockSize] * a.BlockSize + p % a.BlockSize;
                long k = (slot * kvWidth + (long)kvHead * a.HeadDim) / 4;
                float dot = 0;
                for (int i = 0; i < a.HeadDim / 4; i++)
                {
                    var kv = keys[k + i];
                    dot += kv.X * query[4 * i] + kv.Y * query[4 * i + 1] + kv.Z * query[4 * i + 2] + kv.W * query[4 * i + 3];
                }
                score = dot;
            }

            // One online-softmax step for the whole chunk.
            float newMax = IntrinsicMath.Max(max, WarpMath.Max(score));
            float correction = XMath.Exp(max - newMax);
            float weight = p <= last ? XMath.Exp(score - newMax) : 0;
            sum = sum * correction + WarpMath.Sum(weight);
            o0 *= correction; o1 *= correction; o2 *= correction; o3 *= correction;
            max = newMax;

            // Values: every lane walks the chunk's positions, owning its output dimensions.
            int count = IntrinsicMath.Min(32, last - chunk + 1);
            for (int j = 0; j < count; j++)
            {
                float w = Warp.Shuffle(weight, j);
                int pj = chunk + j;
                long slot = (long)a.BlockTables[tableStart + pj / a.BlockSize] * a.BlockSize + pj % a.BlockSize;
                long v = slot * kvWidth + (long)kvHead * a.HeadDim;
                if (has0) o0 += w * a.ValueCache[v + lane];
                if (has1) o1 += w * a.ValueCache[v + lane + 32];
                if (has2) o2 += w * a.ValueCache[v + lane + 64];
                if (has3) o3 += w * a.ValueCache[v + lane + 96];
            }
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
