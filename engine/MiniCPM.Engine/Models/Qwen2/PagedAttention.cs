using System.Buffers;
using System.Numerics.Tensors;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Models.Qwen2;

/// <summary>
/// Causal grouped-query attention of new query rows against a sequence's cached keys and values, read through its
/// block table: out = softmax(q·Kᵀ · scale) · V over positions 0..pos (the row's own position included, so its key
/// and value must already be in the cache). Query head h reads KV head h / group. One work item is one (row, head).
/// </summary>
internal readonly unsafe struct PagedAttention : IRangeJob
{
    /// <summary>Longest context whose scores live on the stack (32 KiB); longer ones rent a pooled array.</summary>
    private const int StackScores = 8192;

    public required float* Queries { get; init; }          // [rows, heads·headDim], RoPE applied
    public required float* Output { get; init; }           // [rows, heads·headDim]
    public required float* KeyArena { get; init; }         // the layer's cache arenas
    public required float* ValueArena { get; init; }
    public required int* RowPositions { get; init; }       // absolute position of each row
    public required int* RowTableStarts { get; init; }     // where each row's block table starts in BlockTables
    public required int* BlockTables { get; init; }
    public required int Heads { get; init; }
    public required int GroupSize { get; init; }
    public required int HeadDim { get; init; }
    public required int BlockSize { get; init; }
    public required float Scale { get; init; }
    public required int LongestContext { get; init; }

    public void Execute(int start, int end)
    {
        float[]? rented = LongestContext > StackScores ? ArrayPool<float>.Shared.Rent(LongestContext) : null;
        Span<float> scores = rented ?? stackalloc float[LongestContext];
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
        long headOffset = (long)(head / GroupSize) * HeadDim;
        var query = new ReadOnlySpan<float>(Queries + (long)row * queryWidth + (long)head * HeadDim, HeadDim);
        var output = new Span<float>(Output + (long)row * queryWidth + (long)head * HeadDim, HeadDim);
        int context = RowPositions[row] + 1;
        int* table = BlockTables + RowTableStarts[row];
        var scores = scoreBuffer[..context];

        // scores[p] = (q · k_p) · scale
        for (int p0 = 0, block = 0; p0 < context; p0 += BlockSize, block++)
        {
            float* keys = KeyArena + (long)table[block] * BlockSize * kvWidth + headOffset;
            int count = Math.Min(BlockSize, context - p0);
            for (int j = 0; j < count; j++)
                scores[p0 + j] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(keys + (long)j * kvWidth, HeadDim)) * Scale;
        }

        Softmax.Apply(scores);

        // out = Σ_p softmax_p · v_p
        output.Clear();
        for (int p0 = 0, block = 0; p0 < context; p0 += BlockSize, block++)
        {
            float* values = ValueArena + (long)table[block] * BlockSize * kvWidth + headOffset;
            int count = Math.Min(BlockSize, context - p0);
            for (int j = 0; j < count; j++)
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(values + (long)j * kvWidth, HeadDim), scores[p0 + j], output, output);
        }
    }
}
