using ILGPU;
using ILGPU.Runtime;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Device ints, one per token (or <see cref="PerToken"/> per token), zero between launches: <see cref="RmsNormTail"/>
/// counts a token's finished groups in them, <see cref="SwiGluInt8Tail"/> a block's, and the last group sets the count
/// back to zero. Zeroed once here.
/// </summary>
public sealed class TokenCounters : IDisposable
{
    private readonly MemoryBuffer1D<int, Stride1D.Dense> _counts;

    public TokenCounters(GpuDevice device, int tokens, int perToken = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(perToken, 1);
        Tokens = tokens;
        PerToken = perToken;
        _counts = device.Allocate<int>((long)tokens * perToken);
        _counts.MemSetToZero();
        device.Accelerator.DefaultStream.Synchronize();
    }

    public int Tokens { get; }

    /// <summary>Counters per token (token t's are t·PerToken …).</summary>
    public int PerToken { get; }

    public ArrayView<int> View => _counts.View;

    public void Dispose() => _counts.Dispose();
}
