using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>How a <see cref="Qwen2GpuModel"/> runs: the device and the size of its device-side paged KV cache.</summary>
public sealed record Qwen2GpuOptions
{
    /// <summary>"cuda", "cuda:N", "opencl[:N]" or "cpu" (ILGPU's CPU simulator: slow, for tests).</summary>
    public string Device { get; init; } = "cuda";

    /// <summary>KV cache capacity in tokens over all sequences (rounded up to whole blocks).</summary>
    public int KvCacheTokens { get; init; } = 4096;

    /// <summary>
    /// Int8 (default, as the CPU backend and llama.cpp's mmvq): for block-quantized weights (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K…Q6_K), decode rows (≤ 4 per
    /// pass) take int8 activation blocks (written by the norm, SiLU·mul and attention kernels that produce them) and
    /// integer (dp4a) kernels — 2.5× faster 7B Q4_0 decode than float activations on an H200, at the int8 rounding cost
    /// (~1e-2 × max|logit|, as on the CPU).
    /// Float32: every product takes float activations. Float weights always take float activations.
    /// </summary>
    public ActivationPrecision Activations { get; init; } = ActivationPrecision.Int8;

    /// <summary>
    /// On CUDA, one-token decode steps of a single sequence replay a captured CUDA graph of the whole pass instead of
    /// launching ~10 kernels per layer one by one (each ILGPU launch costs ~5 µs of host time). Same kernels, same
    /// order: the logits are bit-identical either way. Ignored elsewhere.
    /// </summary>
    public bool CudaGraphs { get; init; } = true;

    /// <summary>
    /// Greedy decoding on the device (<see cref="Qwen2GpuModel.DecodeGreedy"/>) queues this many steps before the host
    /// reads their ids back (one copy and one wait per window instead of a logits row per token). Steps past where the
    /// caller stops are computed for nothing and dropped from the cache: larger windows save host round trips and waste
    /// more at the end of a reply.
    /// </summary>
    public int GreedyWindow { get; init; } = 8;

    /// <summary>Tokens per KV block.</summary>
    public int KvBlockSize { get; init; } = 16;
}
