using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using static MiniCPM.Kernels.Cpu.AttentionTileKernels;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Multi-head attention of one sequence's query rows over its key/value rows, where query i sees the first
/// <c>visibleKeys[i]</c> keys: out_i = softmax(q_i·K[0..n_i)ᵀ · scale) · V[0..n_i). A visible prefix per query covers
/// every mask the models use — none (all keys), causal (i + 1), key padding (h·w real patches of a padded slice) and
/// Whisper's block-causal chunks ((i / chunk + 1) · chunk) — without materializing a [queries, keys] mask.
/// Query head h reads KV head h / (heads / kvHeads) (grouped-query aware).
/// <para>
/// Blocked for long sequences (SigLIP: 1024 × 1024 per head): each KV head's keys are packed once, transposed into
/// 16-key panels, and its values padded to whole vectors; then one work item is one (head, tile of 32 queries):
/// S = Q·Kᵀ by 4 × 32 register tiles over the tile's longest prefix, a softmax per row over its own prefix (the
/// scores past it become exact zeros), and O = P·V by 4 × 64 register tiles. Masked keys therefore contribute
/// 0 · v, which leaves the sum unchanged as long as v is finite (it always is: the callers' keys and values are
/// projections of real activations).
/// </para>
/// </summary>
public static unsafe class PrefixAttention
{
    /// <summary>Queries per work item: their score rows (32 × keys floats) stay in L2 while P·V reads them.</summary>
    private const int QueryTile = 32;

    /// <param name="queries">[queryCount, heads·headDim] row-major.</param>
    /// <param name="keys">[keyCount, kvHeads·headDim].</param>
    /// <param name="values">[keyCount, kvHeads·headDim].</param>
    /// <param name="output">[queryCount, heads·headDim].</param>
    /// <param name="visibleKeys">Per query, how many leading keys it sees (1..keyCount); empty = all keys.</param>
    public static void Compute(
        ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        int queryCount, int keyCount, int heads, int kvHeads, int headDim, float scale,
        ReadOnlySpan<int> visibleKeys = default, CpuThreadPool? pool = null)
    {
        Validate(queries, keys, values, output, queryCount, keyCount, heads, kvHeads, headDim, visibleKeys);
        if (queryCount == 0) return;
        long keysPerHead = PackedKeysLength(keyCount, headDim), valuesPerHead = PackedValuesLength(keyCount, headDim);
        float* packedKeys = Allocate(kvHeads * keysPerHead);
        float* packedValues = Allocate(kvHeads * valuesPerHead);
        try
        {
            fixed (float* q = queries, k = keys, v = values, o = output)
            fixed (int* visible = visibleKeys)
            {
                var pack = new PackJob
                {
                    Keys = k, Values = v, KvWidth = (long)kvHeads * headDim, KeyCount = keyCount, HeadDim = headDim,
                    PackedKeys = packedKeys, PackedValues = packedValues, KeysPerHead = keysPerHead, ValuesPerHead = valuesPerHead,
                };
                Run(kvHeads, pack, pool);
                var tiles = new TileJob
                {
                    Queries = q, Output = o, VisibleKeys = visibleKeys.IsEmpty ? null : visible,
                    PackedKeys = packedKeys, PackedValues = packedValues, KeysPerHead = keysPerHead, ValuesPerHead = valuesPerHead,
                    QueryCount = queryCount, KeyCount = keyCount, Heads = heads, GroupSize = heads / kvHeads, HeadDim = headDim,
                    Scale = scale, TilesPerHead = (queryCount + QueryTile - 1) / QueryTile,
                };
                Run(heads * tiles.TilesPerHead, tiles, pool);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(packedKeys);
            NativeMemory.AlignedFree(packedValues);
        }
    }

    private static void Run<TJob>(int items, TJob job, CpuThreadPool? pool) where TJob : unmanaged, IRangeJob
    {
        if (pool is null || pool.ThreadCount == 1) job.Execute(0, items);
        else pool.For(items, job);
    }

    /// <summary>64-byte aligned scratch, so every packed vector load is a whole cache line.</summary>
    private static float* Allocate(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);

    private static void Validate(
        ReadOnlySpan<float> queries, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        int queryCount, int keyCount, int heads, int kvHeads, int headDim, ReadOnlySpan<int> visibleKeys)
    {
        if (queryCount < 0 || keyCount < 1 || heads < 1 || kvHeads < 1 || headDim < 1 || heads % kvHeads != 0)
            throw new ArgumentException($"bad attention shape: {queryCount} queries, {keyCount} keys, {heads} heads, {kvHeads} KV heads, head dim {headDim}");
        long queryWidth = (long)heads * headDim, kvWidth = (long)kvHeads * headDim;
        if (queries.Length < queryCount * queryWidth || output.Length < queryCount * queryWidth)
            throw new ArgumentException("queries/output are shorter than queryCount × heads × headDim");
        if (keys.Length < keyCount * kvWidth || values.Length < keyCount * kvWidth)
            throw new ArgumentException("keys/values are shorter than keyCount × kvHeads × headDim");
        if (visibleKeys.IsEmpty) return;
        if (visibleKeys.Length != queryCount)
            throw new ArgumentException($"visibleKeys has {visibleKeys.Length} entries; {queryCount} expected");
        foreach (int n in visibleKeys)
            if (n < 1 || n > keyCount)
                throw new ArgumentOutOfRangeException(nameof(visibleKeys), $"a query must see 1..{keyCount} keys, not {n}");
    }

    /// <summary>One item per KV head: its keys transposed into panels and its values padded (see <see cref="AttentionTileKernels"/>).</summary>
    private readonly struct PackJob : IRangeJob
    {
        public required float* Keys { get; init; }
        public required float* Values { get; init; }
        public required long KvWidth { get; init; }
        public required int KeyCount { get; init; }
        public required int HeadDim { get; init; }
        public required float* PackedKeys { get; init; }
        public required float* PackedValues { get; init; }
        public required long KeysPerHead { get; init; }
        public required long ValuesPerHead { get; init; }

        public void Execute(int start, int end)
        {
            for (int head = start; head < end; head++)
            {
                long column = (long)head * HeadDim;
                PackKeysTransposed(Keys + column, KvWidth, KeyCount, HeadDim, PackedKeys + head * KeysPerHead);
                PackValues(Values + column, KvWidth, KeyCount, HeadDim, PackedValues + head * ValuesPerHead);
            }
        }
    }

    /// <summary>One item per (head, tile of <see cref="QueryTile"/> queries); items of one head are adjacent.</summary>
    private readonly struct TileJob : IRangeJob
    {
        public required float* Queries { get; init; }
        public required float* Output { get; init; }
        public required int* VisibleKeys { get; init; }
        public required float* PackedKeys { get; init; }
        public required float* PackedValues { get; init; }
        public required long KeysPerHead { get; init; }
        public required long ValuesPerHead { get; init; }
        public required int QueryCount { get; init; }
        public required int KeyCount { get; init; }
        public required int Heads { get; init; }
        public required int GroupSize { get; init; }
        public required int HeadDim { get; init; }
        public required float Scale { get; init; }
        public required int TilesPerHead { get; init; }

        public void Execute(int start, int end)
        {
            int scorePitch = RoundUp(KeyCount, KeyBlock), paddedDim = PaddedDim(HeadDim);
            // Per-call scratch: the tile's queries (padded to whole query blocks with zero rows), its score rows and
            // one query block's outputs.
            float* queries = Allocate((long)QueryTile * HeadDim);
            float* scores = Allocate((long)QueryTile * scorePitch);
            float* outputs = Allocate((long)QueryBlock * paddedDim);
            try
            {
                for (int item = start; item < end; item++)
                    AttendTile(item / TilesPerHead, item % TilesPerHead, queries, scores, scorePitch, outputs);
            }
            finally
            {
                NativeMemory.AlignedFree(queries);
                NativeMemory.AlignedFree(scores);
                NativeMemory.AlignedFree(outputs);
            }
        }

        private void AttendTile(int head, int tile, float* queries, float* scores, int scorePitch, float* outputs)
        {
            int queryWidth = Heads * HeadDim, paddedDim = PaddedDim(HeadDim);
            int first = tile * QueryTile, rows = Math.Min(QueryTile, QueryCount - first);
            int paddedRows = RoundUp(rows, QueryBlock);
            float* keys = PackedKeys + (head / GroupSize) * KeysPerHead;
            float* values = PackedValues + (head / GroupSize) * ValuesPerHead;

            for (int i = 0; i < paddedRows; i++)
            {
                var row = new Span<float>(queries + (long)i * HeadDim, HeadDim);
                if (i < rows) new ReadOnlySpan<float>(Queries + (long)(first + i) * queryWidth + (long)head * HeadDim, HeadDim).CopyTo(row);
                else row.Clear();
            }

            for (int block = 0; block < paddedRows; block += QueryBlock)
            {
                // The block's longest prefix bounds both products; shorter rows get zero probabilities past theirs.
                int longest = 0;
                for (int i = block; i < Math.Min(rows, block + QueryBlock); i++) longest = Math.Max(longest, Visible(first + i));
                int keyRange = RoundUp(longest, KeyBlock);
                float* blockScores = scores + (long)block * scorePitch;

                for (int key = 0; key < keyRange; key += KeyBlock)
                    Scores4x32(queries + (long)block * HeadDim, keys + (long)key * HeadDim, HeadDim, blockScores + key, scorePitch);

                for (int i = 0; i < QueryBlock; i++)
                {
                    var row = new Span<float>(blockScores + (long)i * scorePitch, keyRange);
                    int visible = block + i < rows ? Visible(first + block + i) : 0;
                    TensorPrimitives.Multiply(row[..visible], Scale, row[..visible]);
                    Softmax.Apply(row, visible); // a padding row (visible 0) becomes all zeros
                }

                int dim = 0;
                for (; dim + WideDims <= paddedDim; dim += WideDims)
                    WeightedSum4x64(blockScores, scorePitch, longest, values + dim, paddedDim, outputs + dim, paddedDim);
                for (; dim < paddedDim; dim += Lanes)
                    WeightedSum4x16(blockScores, scorePitch, longest, values + dim, paddedDim, outputs + dim, paddedDim);

                for (int i = block; i < Math.Min(rows, block + QueryBlock); i++)
                    new ReadOnlySpan<float>(outputs + (long)(i - block) * paddedDim, HeadDim)
                        .CopyTo(new Span<float>(Output + (long)(first + i) * queryWidth + (long)head * HeadDim, HeadDim));
            }
        }

        private int Visible(int query) => VisibleKeys is null ? KeyCount : VisibleKeys[query];
    }
}
