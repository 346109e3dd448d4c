namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>How a <see cref="Qwen2GpuModel"/> runs: the device and the size of its device-side paged KV cache.</summary>
public sealed record Qwen2GpuOptions
{
    /// <summary>"cuda", "cuda:N", "opencl[:N]" or "cpu" (ILGPU's CPU simulator: slow, for tests).</summary>
    public string Device { get; init; } = "cuda";

    /// <summary>KV cache capacity in tokens over all sequences (rounded up to whole blocks).</summary>
    public int KvCacheTokens { get; init; } = 4096;

    /// <summary>Tokens per KV block.</summary>
    public int KvBlockSize { get; init; } = 16;
}
