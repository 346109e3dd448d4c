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
/// unnormalized output) per query head; <see cref="Merge"/> then rescales the chunks to a common max and normalizes,
/// in a launch of its own or in this one's tail (<see cref="KernelThenMerge"/>).
/// <para>
/// Inside a group a warp takes one position at a time, each lane four of the head's dimensions: a key or value row is
/// one coalesced 512-byte read (d = 128), and a lane keeps its quarter-row of all ≤ 8 query heads in registers, so a
/// key gives 8 partial dots that one <see cref="WarpMath.Sum8"/> turns into 8 scores. Warps walk positions two at a
/// time so two rows are in flight per warp: on an H200 the first version (a thread per (head, position), loads one
/// after another) waited on memory latency — 68 µs for a 1024-position decode row, ~60× its bytes' time.
/// </para>
/// </summary>
public static class SplitAttentionKernel
{
    public const int Warps = 8;
    public const int GroupSize = 32 * Warps;
    /// <summary>Query heads per KV head one group serves (Qwen2-7B: 7); one warp per head in the softmax step.</summary>
    public const int MaxQueryHeadsPerKv = Warps;
    /// <summary>The most positions one chunk holds (its scores stay in shared memory).</summary>
    public const int MaxChunkSize = 256;
    /// <summary>Lanes × 4 dimensions: the widest head a warp row covers (= PagedAttentionKernel.MaxHeadDim).</summary>
    private const int Quads = 32;

    /// <summary>The chunks' softmax states; a merge launch follows.</summary>
    public static void Kernel(SplitAttentionArgs s) => Run(s, default(NoAttentionTail));

    /// <summary>The chunks' softmax states, merged by each (row, KV head)'s last chunk group.</summary>
    public static void KernelThenMerge(SplitAttentionArgs s, AttentionMergeTail merge) => Run(s, merge);

    private static void Run<TTail>(SplitAttentionArgs s, TTail tail) where TTail : struct, IAttentionTail
    {
        var a = s.Attention;
        int kvHeads = a.Heads / a.GroupSize;
        int chunk = Grid.IdxX % s.GridChunks, row = Grid.IdxX / s.GridChunks / kvHeads, kvHead = Grid.IdxX / s.GridChunks % kvHeads;
        int last = a.Positions[row], start = chunk * s.ChunkSize;
        if (start > last) return; // past this row's context: the merge never reads this chunk, the tail never counts it (uniform per group)
        int count = IntrinsicMath.Min(s.ChunkSize, last + 1 - start);
        int heads = a.GroupSize, firstHead = kvHead * heads, d = a.HeadDim, tid = Group.IdxX;
        int lane = tid & 31, warp = tid >> 5, tableStart = a.TableStarts[row];
        bool owns = 4 * lane < d; // lanes past a narrow head (d = 64) carry zeros
        long rowWidth4 = (long)kvHeads * d / 4, head4 = (long)kvHead * d / 4 + lane;

        var slots = SharedMemory.Allocate<long>(MaxChunkSize);
        var scores = SharedMemory.Allocate<float>(MaxQueryHeadsPerKv * MaxChunkSize);
        var partial = SharedMemory.Allocate<Float4>(Warps * MaxQueryHeadsPerKv * Quads);
        for (int j = tid; j < count; j += GroupSize)
        {
            int p = start + j;
            slots[j] = (long)a.BlockTables[tableStart + p / a.BlockSize] * a.BlockSize + p % a.BlockSize;
        }
        var query = HeadQuads.LoadQuery(a, row, firstHead, heads, lane, owns);
        Group.Barrier();

        // Scores: warp w takes positions w, w + Warps, … (two per step); lane 4h of the warp stores head h's. Each
        // step's two key rows are loaded while the step before is scored, so a warp waits on memory once per chunk
        // rather than once per step (16 steps in a 256-position chunk). The same sums in the same order.
        var keys = a.KeyCache.Cast<Float4>();
        Float4 k = Row(keys, slots, warp, count, rowWidth4, head4, owns), k2 = Row(keys, slots, warp + Warps, count, rowWidth4, head4, owns);
        for (int j = warp; j < count; j += 2 * Warps) // uniform per warp
        {
            int next = j + 2 * Warps;
            Float4 kNext = Row(keys, slots, next, count, rowWidth4, head4, owns);
            Float4 k2Next = Row(keys, slots, next + Warps, count, rowWidth4, head4, owns);
            StoreScores(scores, j, query.Scores(k), heads, lane);
            if (j + Warps < count) StoreScores(scores, j + Warps, query.Scores(k2), heads, lane);
            k = kNext;
            k2 = k2Next;
        }
        // The first value rows do not depend on the softmax: in flight while it runs.
        var values = a.ValueCache.Cast<Float4>();
        Float4 v = Row(values, slots, warp, count, rowWidth4, head4, owns), v2 = Row(values, slots, warp + Warps, count, rowWidth4, head4, owns);
        Group.Barrier();

        // The chunk's softmax state: warp h takes head h; scores become exp(score − max); unused heads' rows are zeroed
        // so the value step can weigh all 8 without a branch.
        {
            int h = warp;
            if (h < heads)
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
                    long state = ((long)row * a.Heads + firstHead + h) * s.ChunkStride + chunk;
                    s.PartialMax[state] = max;
                    s.PartialSum[state] = sum;
                }
            }
            else
                for (int j = lane; j < count; j += 32) scores[h * MaxChunkSize + j] = 0;
        }
        Group.Barrier();

        // Values: the same walk, loaded one step ahead as the keys; each lane accumulates its 4 dimensions of all 8
        // heads, then the warps' sums meet in shared memory and one thread per (head, quad) adds them up.
        var output = new HeadQuads();
        for (int j = warp; j < count; j += 2 * Warps)
        {
            int next = j + 2 * Warps;
            Float4 vNext = Row(values, slots, next, count, rowWidth4, head4, owns);
            Float4 v2Next = Row(values, slots, next + Warps, count, rowWidth4, head4, owns);
            output.Accumulate(scores, j, v);
            if (j + Warps < count) output.Accumulate(scores, j + Warps, v2);
            v = vNext;
            v2 = v2Next;
        }
        output.Store(partial, warp * MaxQueryHeadsPerKv * Quads + lane);
        Group.Barrier();

        int quads = d / 4;
        if (tid < heads * quads)
        {
            int h = tid / quads, quad = tid - h * quads;
            Float4 sum = partial[h * Quads + quad];
            for (int w = 1; w < Warps; w++) sum = Float4.Add(sum, partial[(w * MaxQueryHeadsPerKv + h) * Quads + quad]);
            long at = (((long)row * a.Heads + firstHead + h) * s.ChunkStride + chunk) * d / 4 + quad;
            s.PartialOut.Cast<Float4>()[at] = sum;
        }
        tail.Finish(s, row, kvHead);
    }

    /// <summary>This lane's quarter of the key or value row at chunk position <paramref name="j"/>, zeros past the
    /// chunk (or past a narrow head).</summary>
    private static Float4 Row(ArrayView<Float4> cache, ArrayView<long> slots, int j, int count, long rowWidth4, long head4, bool owns) =>
        owns && j < count ? cache[slots[j] * rowWidth4 + head4] : default;

    /// <summary>Lane 4h holds head h's total after <see cref="WarpMath.Sum8"/>; it stores it when h is a real head.</summary>
    private static void StoreScores(ArrayView<float> scores, int j, float laneTotal, int heads, int lane)
    {
        int h = lane >> 2;
        if ((lane & 3) == 0 && h < heads) scores[h * MaxChunkSize + j] = laneTotal;
    }

    /// <summary>Warps launched by <see cref="Merge"/> and <see cref="MergeInt8"/>: one per (row, head).</summary>
    public static int MergeWarps(int rows, int heads) => rows * heads;

    /// <summary>
    /// One warp per (row, head): the row's chunks rescaled to their common max, o = Σ_c e^(m_c − M)·o_c / Σ_c e^(m_c − M)·s_c
    /// (every chunk read holds at least one position, so s_c ≥ 1). Explicitly grouped; <paramref name="warps"/> =
    /// <see cref="MergeWarps"/>.
    /// </summary>
    public static void Merge(SplitAttentionArgs s, int warps)
    {
        int rowHead = (Grid.IdxX * Group.DimX + Group.IdxX) >> 5;
        if (rowHead >= warps) return; // whole warps
        MergeRowHead(s, rowHead);
    }

    /// <summary>
    /// <see cref="Merge"/>, then each 32 outputs — one int8 block of the row, as a head's d values are whole blocks
    /// (d % 32 == 0) — quantized for the output projection by the quantizer every producer shares, saving that
    /// projection's quantize launch.
    /// </summary>
    public static void MergeInt8(SplitAttentionArgs s, Int8Blocks q, int warps)
    {
        int rowHead = (Grid.IdxX * Group.DimX + Group.IdxX) >> 5;
        if (rowHead >= warps) return;
        MergeRowHeadInt8(s, q, rowHead);
    }

    /// <summary><see cref="MergeRowHead"/>, then the (row, head)'s int8 blocks (one warp, all lanes).</summary>
    internal static void MergeRowHeadInt8(SplitAttentionArgs s, Int8Blocks q, int rowHead)
    {
        var output = MergeRowHead(s, rowHead);
        int lane = Warp.LaneIdx;
        long value = (long)rowHead * s.Attention.HeadDim + 4 * lane; // block = value / 32: 8 lanes per block
        Int8Quantizer.QuantizeQuad(output, q, value / 32, 4 * lane < s.Attention.HeadDim);
    }

    /// <summary>Writes the (row, head)'s merged output (one warp, all lanes); returns the lane's 4 values (zeros past
    /// the head).</summary>
    internal static Float4 MergeRowHead(SplitAttentionArgs s, int rowHead)
    {
        var a = s.Attention;
        int d = a.HeadDim, lane = Warp.LaneIdx, row = rowHead / a.Heads;
        int used = a.Positions[row] / s.ChunkSize + 1;
        long first = (long)rowHead * s.ChunkStride;
        float max = float.NegativeInfinity;
        for (int c = lane; c < used; c += 32) max = IntrinsicMath.Max(max, s.PartialMax[first + c]);
        max = WarpMath.Max(max);

        // Lane c % 32 holds chunk c's factor for the current 32 chunks; shuffles hand it to the lanes owning dimensions.
        bool owns = 4 * lane < d;
        var partialOut = s.PartialOut.Cast<Float4>(); // chunk rows are d floats, d % 4 == 0
        float denominator = 0;
        Float4 sum = default;
        for (int block = 0; block < used; block += 32)
        {
            int c = block + lane;
            float factor = c < used ? XMath.Exp(s.PartialMax[first + c] - max) : 0;
            denominator += c < used ? factor * s.PartialSum[first + c] : 0;
            int n = IntrinsicMath.Min(32, used - block);
            for (int i = 0; i < n; i += 2) // two chunks' rows in flight
            {
                bool second = i + 1 < n;
                float f = Warp.Shuffle(factor, i), f2 = Warp.Shuffle(factor, i + 1);
                if (owns)
                {
                    long at = ((first + block + i) * d) / 4 + lane;
                    Float4 o = partialOut[at];
                    Float4 o2 = second ? partialOut[at + d / 4] : default;
                    sum = Float4.MulAdd(sum, f, o);
                    if (second) sum = Float4.MulAdd(sum, f2, o2);
                }
            }
        }
        denominator = WarpMath.Sum(denominator);
        if (!owns) return default;
        var result = new Float4(sum.X / denominator, sum.Y / denominator, sum.Z / denominator, sum.W / denominator);
        long output = (long)rowHead * d + 4 * lane;
        a.Output[output] = result.X;
        a.Output[output + 1] = result.Y;
        a.Output[output + 2] = result.Z;
        a.Output[output + 3] = result.W;
        return result;
    }
}

/// <summary>Four dimensions of each of up to 8 query heads, kept in one lane's registers (fields, not an array, so
/// nothing spills to local memory).</summary>
internal struct HeadQuads
{
    public Float4 H0, H1, H2, H3, H4, H5, H6, H7;

    /// <summary>The lane's 4 dimensions of heads firstHead … firstHead + heads − 1 of the row's query, pre-scaled;
    /// zeros for heads past <paramref name="heads"/> and for lanes that own no dimension.</summary>
    public static HeadQuads LoadQuery(AttentionArgs a, int row, int firstHead, int heads, int lane, bool owns)
    {
        var q = new HeadQuads();
        if (!owns) return q;
        long at = (long)row * a.QueryStride + (long)firstHead * a.HeadDim + 4 * lane;
        q.H0 = Load(a, at, 0, heads);
        q.H1 = Load(a, at, 1, heads);
        q.H2 = Load(a, at, 2, heads);
        q.H3 = Load(a, at, 3, heads);
        q.H4 = Load(a, at, 4, heads);
        q.H5 = Load(a, at, 5, heads);
        q.H6 = Load(a, at, 6, heads);
        q.H7 = Load(a, at, 7, heads);
        return q;
    }

    private static Float4 Load(AttentionArgs a, long at, int h, int heads)
    {
        if (h >= heads) return default;
        long i = at + (long)h * a.HeadDim;
        return new Float4(a.Query[i] * a.Scale, a.Query[i + 1] * a.Scale, a.Query[i + 2] * a.Scale, a.Query[i + 3] * a.Scale);
    }

    /// <summary>The 8 heads' scores against key quarter-rows <paramref name="k"/>; lane 4h gets head h's.</summary>
    public readonly float Scores(Float4 k) => WarpMath.Sum8(Float4.Dot(k, H0), Float4.Dot(k, H1), Float4.Dot(k, H2),
        Float4.Dot(k, H3), Float4.Dot(k, H4), Float4.Dot(k, H5), Float4.Dot(k, H6), Float4.Dot(k, H7));

    /// <summary>Adds weight[h, j]·v to every head's quad (weights of unused heads are zero).</summary>
    public void Accumulate(ArrayView<float> weights, int j, Float4 v)
    {
        const int stride = SplitAttentionKernel.MaxChunkSize;
        H0 = Float4.MulAdd(H0, weights[j], v);
        H1 = Float4.MulAdd(H1, weights[stride + j], v);
        H2 = Float4.MulAdd(H2, weights[2 * stride + j], v);
        H3 = Float4.MulAdd(H3, weights[3 * stride + j], v);
        H4 = Float4.MulAdd(H4, weights[4 * stride + j], v);
        H5 = Float4.MulAdd(H5, weights[5 * stride + j], v);
        H6 = Float4.MulAdd(H6, weights[6 * stride + j], v);
        H7 = Float4.MulAdd(H7, weights[7 * stride + j], v);
    }

    /// <summary>Head h's quad to slot at + 32·h.</summary>
    public readonly void Store(ArrayView<Float4> slots, int at)
    {
        slots[at] = H0;
        slots[at + 32] = H1;
        slots[at + 64] = H2;
        slots[at + 96] = H3;
        slots[at + 128] = H4;
        slots[at + 160] = H5;
        slots[at + 192] = H6;
        slots[at + 224] = H7;
    }
}
