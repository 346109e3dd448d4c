using ILGPU;
using ILGPU.Runtime;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Device memory for <see cref="SplitAttentionKernel"/>'s per-chunk softmax states: up to <see cref="Rows"/> rows of
/// <see cref="Heads"/> query heads, <see cref="Chunks"/> chunks each (enough for <paramref name="maxContext"/> positions
/// at <see cref="SplitAttentionKernel.MaxChunkSize"/> per chunk, and at least <see cref="MinChunks"/> so short contexts
/// can still be cut finely).
/// </summary>
public sealed class SplitAttentionScratch : IDisposable
{
    public const int MinChunks = 64;

    private readonly MemoryBuffer1D<float, Stride1D.Dense> _max, _sum, _out;
    /// <summary><see cref="AttentionMergeTail"/>'s counts, one per (row, KV head) (≤ heads per row), 0 between launches.</summary>
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _counters;

    public SplitAttentionScratch(GpuDevice device, int rows, int heads, int headDim, int maxContext)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        Rows = rows;
        Heads = heads;
        HeadDim = headDim;
        Chunks = Math.Max(MinChunks, (maxContext + SplitAttentionKernel.MaxChunkSize - 1) / SplitAttentionKernel.MaxChunkSize);
        long states = (long)rows * heads * Chunks;
        _max = device.Allocate<float>(states);
        _sum = device.Allocate<float>(states);
        _out = device.Allocate<float>(states * headDim);
        _counters = device.Allocate<int>((long)rows * heads);
        _counters.MemSetToZero();
        device.Accelerator.DefaultStream.Synchronize();
    }

    public int Rows { get; }
    public int Heads { get; }
    public int HeadDim { get; }
    public int Chunks { get; }

    /// <summary>Positions per chunk for a batch of <paramref name="rows"/> rows whose longest context is
    /// <paramref name="context"/>: halved from the largest chunk while the grid stays below about two groups per SM of a
    /// large GPU (a chunk of 32 positions still fills a warp), and never so small that the chunks overflow the scratch.</summary>
    public int ChunkSizeFor(int rows, int kvHeads, int context)
    {
        const int TargetGroups = 256;
        int size = SplitAttentionKernel.MaxChunkSize;
        while (size > 32 && (long)rows * kvHeads * ((context + size - 1) / size) < TargetGroups) size /= 2;
        int smallest = (context + Chunks - 1) / Chunks;
        return Math.Max(size, smallest);
    }

    internal SplitAttentionArgs Arguments(AttentionArgs attention, int chunkSize, int gridChunks) => new()
    {
        Attention = attention, PartialMax = _max.View, PartialSum = _sum.View, PartialOut = _out.View,
        ChunkSize = chunkSize, ChunkStride = Chunks, GridChunks = gridChunks,
    };

    /// <summary>The merge as the split kernel's tail, writing the output's int8 blocks to <paramref name="quantize"/> when given.</summary>
    internal AttentionMergeTail MergeTail(Int8Blocks? quantize) => new()
    {
        Counters = _counters.View, Q = quantize ?? default, Quantize = quantize.HasValue ? 1 : 0,
    };

    public void Dispose()
    {
        _counters.Dispose();
        _max.Dispose();
        _sum.Dispose();
        _out.Dispose();
    }
}
