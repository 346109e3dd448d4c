using MiniCPM.Kernels.Cpu;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models.Qwen2;

/// <summary>How a <see cref="Qwen2Model"/> runs: CPU threads and the size of its paged KV cache.</summary>
public sealed record Qwen2Options
{
    /// <summary>Threads for the kernels, the calling thread included (1 runs everything inline).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>KV cache capacity in tokens over all sequences (rounded up to whole blocks). Ignored when <see cref="KvCacheBytes"/> is set.</summary>
    public int KvCacheTokens { get; init; } = 4096;

    /// <summary>KV cache capacity in bytes (whole blocks that fit); overrides <see cref="KvCacheTokens"/>.</summary>
    public long? KvCacheBytes { get; init; }

    /// <summary>Tokens per KV block.</summary>
    public int KvBlockSize { get; init; } = 16;

    /// <summary>Where the weights live when <see cref="Qwen2Model.Load"/> opens the file: mapped (zero copy, the
    /// default) or read once into huge-page memory (faster weight streaming on some virtual machines).</summary>
    public FileResidency WeightResidency { get; init; } = FileResidency.Mapped;

    /// <summary>
    /// What block-quantized weights (Q4_0 … Q6_K) do with the activations: <see cref="ActivationPrecision.Int8"/> (the
    /// default, as llama.cpp) quantizes them per block and runs integer kernels — faster, with logits about 1e-2 of
    /// their largest magnitude away from the float evaluation; <see cref="ActivationPrecision.Float32"/> keeps them
    /// float32 (logits within float32 rounding of the dequantized weights' evaluation). Float weights ignore it.
    /// </summary>
    public ActivationPrecision Activations { get; init; } = ActivationPrecision.Int8;
}

/// <summary>
/// Receives the residual stream of every batch row (request order, rows × hidden) at each stage of a forward pass:
/// stage 0 the input embeddings, stage i the output of layer i (1-based), stage Layers + 1 the final RMSNorm.
/// A debugging aid (golden checks of intermediate states); it costs a final norm over all rows when set.
/// </summary>
public delegate void HiddenStateObserver(int stage, int rows, ReadOnlySpan<float> hidden);
