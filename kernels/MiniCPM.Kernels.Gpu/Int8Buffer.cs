using ILGPU;
using ILGPU.Runtime;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Device storage for up to Tokens × Cols activations as <see cref="Int8Blocks"/> (reused across projections).</summary>
public sealed class Int8Buffer : IDisposable
{
    private readonly MemoryBuffer1D<UInt4, Stride1D.Dense> _quants;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scales;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _sums;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _minTerms;

    public Int8Buffer(GpuDevice device, int tokens, int cols)
    {
        if (cols % 32 != 0) throw new ArgumentException($"{cols} columns are not whole int8 blocks of 32", nameof(cols));
        Tokens = tokens;
        Cols = cols;
        long blocks = (long)tokens * (cols / 32);
        _quants = device.Allocate<UInt4>(2 * blocks);
        _scales = device.Allocate<float>(blocks);
        _sums = device.Allocate<int>(blocks);
        _minTerms = device.Allocate<float>(blocks);
    }

    public int Tokens { get; }
    public int Cols { get; }

    /// <summary>The blocks laid out for rows of <paramref name="cols"/> (≤ Cols) values.</summary>
    public Int8Blocks For(int cols) => new()
    {
        Quants = _quants.View, Scales = _scales.View, Sums = _sums.View, MinTerms = _minTerms.View, BlocksPerToken = cols / 32,
    };

    public void Dispose()
    {
        _quants.Dispose();
        _scales.Dispose();
        _sums.Dispose();
        _minTerms.Dispose();
    }
}
