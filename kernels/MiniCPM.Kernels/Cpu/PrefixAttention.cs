using System.Buffers;
using System.Numerics.Tensors;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// Multi-head attention of one sequence's query rows over its key/value rows, where query i sees the first
/// <c>visibleKeys[i]</c> keys: out_i = softmax(q_i·K[0..n_i)ᵀ · scale) · V[0..n_i). A visible prefix per query covers
/// every mask the models use — none (all keys), causal (i + 1), key padding (h·w real patches of a padded slice) and
/// Whisper's block-causal chunks ((i / chunk + 1) · chunk) — without materializing a [queries, keys] mask.
/// Query head h reads KV head h / (heads / kvHeads) (grouped-query aware). One work item is one (query, head).
/// </summary>
public static unsafe class PrefixAttention
{
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
        fixed (float* q = queries, k = keys, v = values, o = output)
        fixed (int* visible = visibleKeys)
        {
            var job = new Job
            {
                Queries = q, Keys = k, Values = v, Output = o, VisibleKeys = visibleKeys.IsEmpty ? null : visible,
                KeyCount = keyCount, Heads = heads, GroupSize = heads / kvHeads, HeadDim = headDim, Scale = scale,
            };
            int items = queryCount * heads;
            if (pool is null || pool.ThreadCount == 1) job.Execute(0, items);
            else pool.For(items, job, grain: Math.Max(1, heads));
        }
    }

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

    private readonly struct Job : IRangeJob
    {
        /// <summary>Longest key run whose scores live on the stack (32 KiB); longer ones rent a pooled array.</summary>
        private const int StackScores = 8192;

        public required float* Queries { get; init; }
        public required float* Keys { get; init; }
        public required float* Values { get; init; }
        public required float* Output { get; init; }
        public required int* VisibleKeys { get; init; }
        public required int KeyCount { get; init; }
        public required int Heads { get; init; }
        public required int GroupSize { get; init; }
        public required int HeadDim { get; init; }
        public required float Scale { get; init; }

        public void Execute(int start, int end)
        {
            float[]? rented = KeyCount > StackScores ? ArrayPool<float>.Shared.Rent(KeyCount) : null;
            Span<float> scores = rented ?? stackalloc float[KeyCount];
            try
            {
                for (int item = start; item < end; item++)
                    AttendOne(item / Heads, item % Heads, scores);
            }
            finally
            {
                if (rented is not null) ArrayPool<float>.Shared.Return(rented);
            }
        }

        private void AttendOne(int row, int head, Span<float> scoreBuffer)
        {
            int queryWidth = Heads * HeadDim;
            int kvWidth = queryWidth / GroupSize;
            long kvOffset = (long)(head / GroupSize) * HeadDim;
            var query = new ReadOnlySpan<float>(Queries + (long)row * queryWidth + (long)head * HeadDim, HeadDim);
            var output = new Span<float>(Output + (long)row * queryWidth + (long)head * HeadDim, HeadDim);
            int visible = VisibleKeys is null ? KeyCount : VisibleKeys[row];
            var scores = scoreBuffer[..visible];

            for (int j = 0; j < visible; j++)
                scores[j] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(Keys + j * (long)kvWidth + kvOffset, HeadDim)) * Scale;
            Softmax.Apply(scores);

            output.Clear();
            for (int j = 0; j < visible; j++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(Values + j * (long)kvWidth + kvOffset, HeadDim), scores[j], output, output);
        }
    }
}
