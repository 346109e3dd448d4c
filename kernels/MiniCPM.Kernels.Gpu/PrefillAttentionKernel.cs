using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Arguments of <see cref="PrefillAttentionKernel"/>: the paged attention's own plus the query tiles, two ints per
/// tile: its first row and its row count (1..<see cref="PrefillAttentionKernel.RowsPerTile"/> consecutive rows of one
/// sequence, so they share a block table and have consecutive positions).
/// </summary>
public struct PrefillAttentionArgs
{
    public AttentionArgs Attention;
    public ArrayView<int> Tiles;
}

/// <summary>
/// Causal grouped-query attention over the paged KV cache for prefill rows, tiled as <see cref="DenseAttentionKernel"/>:
/// one group of four warps per (query tile, query head). <see cref="PagedAttentionKernel"/> gives every row its own
/// group, so each row re-reads all its keys and values; here a tile's 16 rows share them. The group walks positions
/// 0..(its last row's position) 32 at a time through the block table, loading each tile's keys and values into shared
/// memory once for all 16 queries; each warp owns 4 queries. Lane j scores key j against its warp's 4 queries, a key
/// counts for a query only at or before the query's own position (the causal mask), and each query takes one
/// online-softmax step per tile, then the tile's values are accumulated with each lane owning dimensions lane,
/// lane + 32, … (≤ 128), the weights broadcast by shuffles. Key 0 is visible to every query, so the first step always
/// has a real score.
/// </summary>
public static class PrefillAttentionKernel
{
    public const int Warps = 4;
    public const int GroupSize = 32 * Warps;
    public const int QueriesPerWarp = 4;
    public const int RowsPerTile = Warps * QueriesPerWarp;
    public const int KeysPerTile = 32;
    public const int MaxHeadDim = PagedAttentionKernel.MaxHeadDim;

    /// <summary>Appends the tiles of one sequence's <paramref name="rows"/> consecutive batch rows from
    /// <paramref name="firstRow"/> on (first row, row count per tile) and returns how many it added.</summary>
    public static int AddTiles(List<int> tiles, int firstRow, int rows)
    {
        int added = 0;
        for (int t = 0; t < rows; t += RowsPerTile, added++)
        {
            tiles.Add(firstRow + t);
            tiles.Add(Math.Min(RowsPerTile, rows - t));
        }
        return added;
    }

    /// <summary>The most tiles a batch of <paramref name="rows"/> rows can need (one sequence per row at worst).</summary>
    public static int MaxTiles(int rows) => rows;

    public static void Kernel(PrefillAttentionArgs args)
    {
        var a = args.Attention;
        int head = Grid.IdxY, kvHead = head / a.GroupSize;
        int firstRow = args.Tiles[2 * Grid.IdxX], rows = args.Tiles[2 * Grid.IdxX + 1];
        int lane = Group.IdxX & 31, warp = Group.IdxX / 32, tid = Group.IdxX;
        int d = a.HeadDim, quads = d / 4, kvWidth = a.Heads / a.GroupSize * d;
        int tableStart = a.TableStarts[firstRow], last = a.Positions[firstRow + rows - 1];
        // Key rows in shared memory are an odd number of floats apart, so the 32 lanes reading 32 keys' element e hit
        // 32 different banks.
        int keyStride = d | 1;
        var queries = SharedMemory.Allocate<float>(RowsPerTile * MaxHeadDim);
        var keys = SharedMemory.Allocate<float>(KeysPerTile * (MaxHeadDim + 1));
        var values = SharedMemory.Allocate<float>(KeysPerTile * MaxHeadDim);
        var slots = SharedMemory.Allocate<long>(KeysPerTile);

        // The tile's queries, pre-scaled; rows past the tile repeat its last row (computed, never written).
        for (int i = tid; i < RowsPerTile * d; i += GroupSize)
        {
            int row = firstRow + IntrinsicMath.Min(i / d, rows - 1);
            queries[i] = a.Query[(long)row * a.QueryStride + (long)head * d + i % d] * a.Scale;
        }

        int q0 = warp * QueriesPerWarp; // this warp's first query within the tile
        int pos0 = Position(a, firstRow, q0, rows), pos1 = Position(a, firstRow, q0 + 1, rows);
        int pos2 = Position(a, firstRow, q0 + 2, rows), pos3 = Position(a, firstRow, q0 + 3, rows);
        int warpLast = IntrinsicMath.Max(IntrinsicMath.Max(pos0, pos1), IntrinsicMath.Max(pos2, pos3));
        var s0 = OnlineSoftmax.Empty; var s1 = OnlineSoftmax.Empty; var s2 = OnlineSoftmax.Empty; var s3 = OnlineSoftmax.Empty;
        bool has0 = lane < d, has1 = lane + 32 < d, has2 = lane + 64 < d, has3 = lane + 96 < d;
        var keyCache = a.KeyCache.Cast<Float4>();
        var valueCache = a.ValueCache.Cast<Float4>();
        long head4 = (long)kvHead * quads, rowWidth4 = kvWidth / 4;
        for (int first = 0; first <= last; first += KeysPerTile)
        {
            int count = IntrinsicMath.Min(KeysPerTile, last + 1 - first);
            Group.Barrier(); // the previous tile is consumed (and, the first time, the queries are in place)
            if (tid < count)
            {
                int key = first + tid;
                slots[tid] = (long)a.BlockTables[tableStart + key / a.BlockSize] * a.BlockSize + key % a.BlockSize;
            }
            Group.Barrier();
            // Consecutive threads read consecutive quads of one key row: coalesced.
            for (int i = tid; i < count * quads; i += GroupSize)
            {
                int j = i / quads, e4 = i - j * quads;
                long at = slots[j] * rowWidth4 + head4 + e4;
                Float4 k = keyCache[at], v = valueCache[at];
                int ks = j * keyStride + 4 * e4, vs = j * d + 4 * e4;
                keys[ks] = k.X; keys[ks + 1] = k.Y; keys[ks + 2] = k.Z; keys[ks + 3] = k.W;
                values[vs] = v.X; values[vs + 1] = v.Y; values[vs + 2] = v.Z; values[vs + 3] = v.W;
            }
            Group.Barrier();
            if (first > warpLast) continue; // every key of this tile is after the warp's queries (uniform per warp)

            // Scores: lane j takes key j for the warp's four queries.
            int p = first + lane;
            OnlineSoftmax.ScoreTile(keys, keyStride, queries, q0, d, lane, count, out float score0, out float score1,
                out float score2, out float score3);
            bool inTile = lane < count;
            float w0 = OnlineSoftmax.Weight(ref s0, score0, inTile && p <= pos0);
            float w1 = OnlineSoftmax.Weight(ref s1, score1, inTile && p <= pos1);
            float w2 = OnlineSoftmax.Weight(ref s2, score2, inTile && p <= pos2);
            float w3 = OnlineSoftmax.Weight(ref s3, score3, inTile && p <= pos3);

            // Values: every lane walks the keys any of its warp's queries sees, owning its output dimensions.
            int visible = IntrinsicMath.Min(count, warpLast + 1 - first);
            OnlineSoftmax.AccumulateTile(ref s0, ref s1, ref s2, ref s3, values, visible, d, lane, w0, w1, w2, w3);
        }

        Write(a, s0, firstRow, q0, rows, head, lane, has0, has1, has2, has3);
        Write(a, s1, firstRow, q0 + 1, rows, head, lane, has0, has1, has2, has3);
        Write(a, s2, firstRow, q0 + 2, rows, head, lane, has0, has1, has2, has3);
        Write(a, s3, firstRow, q0 + 3, rows, head, lane, has0, has1, has2, has3);
    }

    /// <summary>The position of the tile's query <paramref name="query"/> (past the tile: its last row's).</summary>
    private static int Position(AttentionArgs a, int firstRow, int query, int rows) =>
        a.Positions[firstRow + IntrinsicMath.Min(query, rows - 1)];

    private static void Write(AttentionArgs a, OnlineSoftmax s, int firstRow, int query, int rows, int head, int lane,
        bool has0, bool has1, bool has2, bool has3)
    {
        if (query >= rows) return;
        float inverse = 1f / s.Sum;
        long o = ((long)(firstRow + query) * a.Heads + head) * a.HeadDim + lane;
        if (has0) a.Output[o] = s.O0 * inverse;
        if (has1) a.Output[o + 32] = s.O1 * inverse;
        if (has2) a.Output[o + 64] = s.O2 * inverse;
        if (has3) a.Output[o + 96] = s.O3 * inverse;
    }
}
