using ILGPU;
using ILGPU.Runtime;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Device ints, one per token, zero between launches: <see cref="RmsNormTail"/> counts a token's finished groups in
/// them and its last group sets the count back to zero. Zeroed once here.
/// </summary>
public sealed class TokenCounters : IDisposable
{
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _counts;

    public TokenCounters(GpuDevice device, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        _counts = device.Allocate<int>(tokens);
        _counts.MemSetToZero();
        device.Accelerator.DefaultStream.Synchronize();
    }

    public int Tokens => (int)_counts.Length;

    public ArrayView<int> View => _counts.View;

    public void Dispose() => _counts.Dispose();
}
