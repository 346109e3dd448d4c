using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Arguments of <see cref="SplitAttentionKernel"/>: the attention's own plus the partial-result scratch.</summary>
public struct SplitAttentionArgs
{
    public AttentionArgs Attention;
    /// <summary>Per (row, query head, chunk) at index (row·Heads + head)·ChunkStride + chunk: the chunk's score max,
    /// its Σ exp(score − max), and (×HeadDim) the unnormalized Σ exp(score − max)·v.</summary>
    public ArrayView<float> PartialMax, PartialSum, PartialOut;
    public int ChunkSize, ChunkStride;
    /// <summary>Chunks per (row, KV head) in the grid: those of the batch's longest context.</summary>
    public int GridChunks;
}

/// <summary>
/// Split-K ("flash-decoding") attention for a few rows: at decode one row per sequence gives only Heads groups to
/// <see cref="PagedAttentionKernel"/> (28 for a 7B model on a 132-SM GPU), and each of a KV head's GroupSize query
/// heads re-reads its keys and values. Here the row's positions are cut into chunks and one group takes one
/// (row, KV head, chunk) for all the query heads sharing that KV head, so the keys and values of a chunk are read from
/// memory once and the grid grows with the context. Each group writes its chunk's softmax state (max, sum,
/// unnormalized output) per query head; <see cref="Merge"/> then rescales the chunks to a common max and normalizes.
/// Work inside a group is split over (head, position) pairs for the scores and (head, dimension) pairs for the
/// values: the other heads' reads of the same key/value hit L1, which is cheap next to the DRAM read they share.
/// </summary>
public static class SplitAttentionKernel
{
    public const int GroupSize = 128;
    /// <summary>Query heads per KV head one group serves (Qwen2-7B: 7).</summary>
    public const int MaxQueryHeadsPerKv = 8;
    /// <summary>The most positions one chunk holds (its scores stay in shared memory).</summary>
    public const int MaxChunkSize = 256;

    public static void Kernel(SplitAttentionArgs s)
    {
        var a = s.Attention;
        int kvHeads = a.Heads / a.GroupSize;
        int chunks = s.ChunkStride;
        int chunk = Grid.IdxX % s.GridChunks, row = Grid.IdxX / s.GridChunks / kvHeads, kvHead = Grid.IdxX / s.GridChunks % kvHeads;
        int last = a.Positions[row], start = chunk * s.ChunkSize;
        if (start > last) return; // past this row's context: the merge never reads this chunk (uniform per group)
        int count = IntrinsicMath.Min(s.ChunkSize, last + 1 - start);
        int heads = a.GroupSize, firstHead = kvHead * heads, d = a.HeadDim, tid = Group.IdxX;
        int kvWidth = kvHeads * d, tableStart = a.TableStarts[row];

        var query = SharedMemory.Allocate<float>(MaxQueryHeadsPerKv * PagedAttentionKernel.MaxHeadDim);
        var slots = SharedMemory.Allocate<long>(MaxChunkSize);
        var scores = SharedMemory.Allocate<float>(MaxQueryHeadsPerKv * MaxChunkSize);
        long q = (long)row * a.QueryStride + (long)firstHead * d;
        for (int i = tid; i < heads * d; i += GroupSize) query[i] = a.Query[q + i] * a.Scale;
        for (int j = tid; j < count; j += GroupSize)
        {
            int p = start + j;
            slots[j] = (long)a.BlockTables[tableStart + p / a.BlockSize] * a.BlockSize + p % a.BlockSize;
        }
        Group.Barrier();

        // Scores: one (head, position) pair per thread, the position's key as 16-byte loads.
        var keys = a.KeyCache.Cast<Float4>();
        for (int e = tid; e < heads * count; e += GroupSize)
        {
            int h = e / count, j = e - h * count;
            long k = (slots[j] * kvWidth + (long)kvHead * d) / 4;
            int qh = h * d;
            float dot = 0;
            for (int i = 0; i < d / 4; i++)
            {
                var kv = keys[k + i];
                dot += kv.X * query[qh + 4 * i] + kv.Y * query[qh + 4 * i + 1] + kv.Z * query[qh + 4 * i + 2] + kv.W * query[qh + 4 * i + 3];
            }
            scores[h * MaxChunkSize + j] = dot;
        }
        Group.Barrier();

        // The chunk's softmax state per head: warp w takes heads w, w + 4, …; scores become exp(score − max).
        int lane = tid & 31, warp = tid / 32;
        for (int h = warp; h < heads; h += GroupSize / 32)
        {
            float max = float.NegativeInfinity;
            for (int j = lane; j < count; j += 32) max = IntrinsicMath.Max(max, scores[h * MaxChunkSize + j]);
            max = WarpMath.Max(max);
            float sum = 0;
            for (int j = lane; j < count; j += 32)
            {
                float weight = XMath.Exp(scores[h * MaxChunkSize + j] - max);
                scores[h * MaxChunkSize + j] = weight;
                sum += weight;
            }
            sum = WarpMath.Sum(sum);
            if (lane == 0)
            {
                long state = ((long)row * a.Heads + firstHead + h) * chunks + chunk;
                s.PartialMax[state] = max;
                s.PartialSum[state] = sum;
            }
        }
        Group.Barrier();

        // Values: one (head, dimension) pair per thread; consecutive threads read consecutive dimensions.
        for (int e = tid; e < heads * d; e += GroupSize)
        {
            int h = e / d, dim = e - h * d;
            long v = (long)kvHead * d + dim;
            float o = 0;
            for (int j = 0; j < count; j++) o += scores[h * MaxChunkSize + j] * a.ValueCache[slots[j] * kvWidth + v];
            s.PartialOut[(((long)row * a.Heads + firstHead + h) * chunks + chunk) * d + dim] = o;
        }
    }

    /// <summary>
    /// One thread per (row, head, dimension): the row's chunks rescaled to their common max,
    /// o = Σ_c e^(m_c − M)·o_c / Σ_c e^(m_c − M)·s_c. Every chunk read holds at least one position, so s_c ≥ 1.
    /// </summary>
    public static void Merge(Index1D index, SplitAttentionArgs s) => MergeOne(s, index);

    /// <summary>
    /// <see cref="Merge"/>, then each warp's 32 outputs — one int8 block of the row, as a head's d values are whole
    /// blocks (d % 32 == 0) — quantized for the output projection by the quantizer every producer shares, saving
    /// that projection's quantize launch. Explicitly grouped so a warp is 32 consecutive outputs; <paramref name="count"/>
    /// (rows·heads·d) is a multiple of 32, so whole warps leave together.
    /// </summary>
    public static void MergeInt8(SplitAttentionArgs s, Int8Blocks q, int count)
    {
        int index = Grid.IdxX * Group.DimX + Group.IdxX;
        if (index >= count) return;
        MergeOne(s, index);
        Warp.Barrier(); // orders the warp's stores before its first lane reads them back
        if (Warp.LaneIdx == 0) Int8Quantizer.QuantizeBlock(s.Attention.Output.Cast<Float4>(), index / 4, q, index / 32);
    }

    private static void MergeOne(SplitAttentionArgs s, int index)
    {
        var a = s.Attention;
        int d = a.HeadDim;
        int row = index / (a.Heads * d), rest = index - row * a.Heads * d, head = rest / d, dim = rest - head * d;
        int used = a.Positions[row] / s.ChunkSize + 1;
        long first = ((long)row * a.Heads + head) * s.ChunkStride;
        float max = float.NegativeInfinity;
        for (int c = 0; c < used; c++) max = IntrinsicMath.Max(max, s.PartialMax[first + c]);
        float numerator = 0, denominator = 0;
        for (int c = 0; c < used; c++)
        {
            float factor = XMath.Exp(s.PartialMax[first + c] - max);
            denominator += factor * s.PartialSum[first + c];
            numerator += factor * s.PartialOut[(first + c) * d + dim];
        }
        a.Output[((long)row * a.Heads + head) * d + dim] = numerator / denominator;
    }
}
