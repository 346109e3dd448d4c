using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Arguments of <see cref="DenseAttentionKernel"/>: Queries rows attend over the Keys rows, per head; row r of each
/// operand starts at r·Stride, and head h's slice at h·HeadDim within it (so q, k and v may be parts of one fused row).
/// </summary>
public struct DenseAttentionArgs
{
    public ArrayView<float> Query, Key, Value, Output;
    public int QueryStride, KeyStride, ValueStride, OutputStride;
    public int Queries, Keys, Heads, HeadDim;
    public float Scale;

    /// <summary>
    /// 0: every query sees every key. Otherwise a block-causal mask of chunks of this many positions (Whisper in
    /// MiniCPM-o): query q sees the keys before min((⌊q / KeyChunk⌋ + 1)·KeyChunk, Keys).
    /// </summary>
    public int KeyChunk;

    /// <summary>How many leading keys query <paramref name="query"/> sees.</summary>
    public readonly int VisibleKeys(int query) =>
        KeyChunk <= 0 ? Keys : IntrinsicMath.Min((query / KeyChunk + 1) * KeyChunk, Keys);
}

/// <summary>
/// Unpaged multi-head attention without a causal mask — SigLIP's self-attention (every patch sees every patch of its
/// slice), the resampler's cross-attention (64 learned queries over a slice's patches) and Whisper's block-causal
/// self-attention (<see cref="DenseAttentionArgs.KeyChunk"/>):
/// <code>
/// O[q, h] = Σ_{k &lt; visible(q)} softmax_k(Scale · Q[q, h]·K[k, h]) · V[k, h]
/// </code>
/// One group of four warps per (tile of 16 queries, head). The group loads 32 keys and values at a time into shared
/// memory, where all 16 queries reuse them; each warp owns 4 queries. Per tile, lane j computes key j's score for its
/// warp's 4 queries in one pass (each key value read once for four products), the warp takes one online-softmax step
/// per query (one max and one sum per tile), then walks the tile's values with each lane owning dimensions lane,
/// lane + 32, … (≤ 128), the weights broadcast by shuffles.
/// </summary>
public static class DenseAttentionKernel
{
    public const int Warps = 4;
    public const int GroupSize = 32 * Warps;
    public const int QueriesPerWarp = 4;
    public const int QueriesPerGroup = Warps * QueriesPerWarp;
    public const int KeysPerTile = 32;
    public const int MaxHeadDim = 128;

    /// <summary>Query tiles of one head (the grid's x extent).</summary>
    public static int QueryTiles(int queries) => (queries + QueriesPerGroup - 1) / QueriesPerGroup;

    public static void Kernel(DenseAttentionArgs a)
    {
        int head = Grid.IdxY, firstQuery = Grid.IdxX * QueriesPerGroup;
        int lane = Group.IdxX & 31, warp = Group.IdxX / 32;
        int d = a.HeadDim;
        // Key rows in shared memory are an odd number of floats apart, so the 32 lanes reading 32 keys' element i hit
        // 32 different banks.
        int keyStride = d | 1;
        var queries = SharedMemory.Allocate<float>(QueriesPerGroup * MaxHeadDim);
        var keys = SharedMemory.Allocate<float>(KeysPerTile * (MaxHeadDim + 1));
        var values = SharedMemory.Allocate<float>(KeysPerTile * MaxHeadDim);

        // The group's queries, pre-scaled; rows past the end repeat the last query (computed, never written).
        for (int i = Group.IdxX; i < QueriesPerGroup * d; i += GroupSize)
        {
            int q = IntrinsicMath.Min(firstQuery + i / d, a.Queries - 1);
            queries[i] = a.Query[(long)q * a.QueryStride + head * d + i % d] * a.Scale;
        }

        int q0 = warp * QueriesPerWarp; // this warp's first query within the group
        var s0 = OnlineSoftmax.Empty; var s1 = OnlineSoftmax.Empty; var s2 = OnlineSoftmax.Empty; var s3 = OnlineSoftmax.Empty;
        bool has0 = lane < d, has1 = lane + 32 < d, has2 = lane + 64 < d, has3 = lane + 96 < d;
        // The group's last query sees the most keys (visibility grows with the query); each warp's queries mask the rest.
        int groupKeys = a.VisibleKeys(IntrinsicMath.Min(firstQuery + QueriesPerGroup - 1, a.Queries - 1));
        int visible0 = a.VisibleKeys(IntrinsicMath.Min(firstQuery + q0, a.Queries - 1));
        int visible1 = a.VisibleKeys(IntrinsicMath.Min(firstQuery + q0 + 1, a.Queries - 1));
        int visible2 = a.VisibleKeys(IntrinsicMath.Min(firstQuery + q0 + 2, a.Queries - 1));
        int visible3 = a.VisibleKeys(IntrinsicMath.Min(firstQuery + q0 + 3, a.Queries - 1));
        for (int first = 0; first < groupKeys; first += KeysPerTile)
        {
            int count = IntrinsicMath.Min(KeysPerTile, groupKeys - first);
            Group.Barrier(); // the previous tile is consumed (and, the first time, the queries are in place)
            for (int i = Group.IdxX; i < count * d; i += GroupSize)
            {
                int j = i / d, e = i % d;
                long key = first + j;
                keys[j * keyStride + e] = a.Key[key * a.KeyStride + head * d + e];
                values[j * d + e] = a.Value[key * a.ValueStride + head * d + e];
            }
            Group.Barrier();

            // Scores: lane j takes key j for the warp's four queries. Every query sees key 0, so each query's first
            // tile holds a real key, as the online softmax needs.
            int laneKey = first + lane;
            bool real = lane < count;
            OnlineSoftmax.ScoreTile(keys, keyStride, queries, q0, d, lane, count, out float score0, out float score1,
                out float score2, out float score3);
            float p0 = OnlineSoftmax.Weight(ref s0, score0, real && laneKey < visible0);
            float p1 = OnlineSoftmax.Weight(ref s1, score1, real && laneKey < visible1);
            float p2 = OnlineSoftmax.Weight(ref s2, score2, real && laneKey < visible2);
            float p3 = OnlineSoftmax.Weight(ref s3, score3, real && laneKey < visible3);

            // Values: every lane walks the tile's keys, owning its output dimensions.
            OnlineSoftmax.AccumulateTile(ref s0, ref s1, ref s2, ref s3, values, count, d, lane, p0, p1, p2, p3);
        }

        Write(a, s0, firstQuery + q0, head, lane, has0, has1, has2, has3);
        Write(a, s1, firstQuery + q0 + 1, head, lane, has0, has1, has2, has3);
        Write(a, s2, firstQuery + q0 + 2, head, lane, has0, has1, has2, has3);
        Write(a, s3, firstQuery + q0 + 3, head, lane, has0, has1, has2, has3);
    }

    private static void Write(DenseAttentionArgs a, OnlineSoftmax s, int query, int head, int lane,
        bool has0, bool has1, bool has2, bool has3)
    {
        if (query >= a.Queries) return;
        float inverse = 1f / s.Sum;
        long o = (long)query * a.OutputStride + head * a.HeadDim + lane;
        if (has0) a.Output[o] = s.O0 * inverse;
        if (has1) a.Output[o + 32] = s.O1 * inverse;
        if (has2) a.Output[o + 64] = s.O2 * inverse;
        if (has3) a.Output[o + 96] = s.O3 * inverse;
    }
}
