using ILGPU;
using ILGPU.Runtime;

namespace MiniCPM.Kernels.Gpu;

/// <summary>Device memory for <see cref="ArgMaxKernel"/>'s per-chunk winners: up to <see cref="Rows"/> rows of
/// <see cref="Cols"/> scores.</summary>
public sealed class ArgMaxScratch : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scores;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _ids;

    public ArgMaxScratch(GpuDevice device, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        Rows = rows;
        Cols = cols;
        long partials = (long)rows * ArgMaxKernel.Chunks(cols);
        _scores = device.Allocate<float>(partials);
        _ids = device.Allocate<int>(partials);
    }

    public int Rows { get; }
    public int Cols { get; }

    internal ArrayView<float> Scores => _scores.View;
    internal ArrayView<int> Ids => _ids.View;

    public void Dispose()
    {
        _scores.Dispose();
        _ids.Dispose();
    }
}
