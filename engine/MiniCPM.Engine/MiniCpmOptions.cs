namespace MiniCPM.Engine;

/// <summary>How <see cref="MiniCpm.Load"/> runs a model.</summary>
public sealed record MiniCpmOptions
{
    /// <summary>CPU threads for the kernels (the calling thread included).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>KV cache capacity in tokens, shared by every sequence of the model (chat sessions, beams).</summary>
    public int KvCacheTokens { get; init; } = 8192;

    /// <summary>
    /// Where the tokenizer comes from when it is not in the model itself (a tokenizer.json, .json.gz or a folder);
    /// null looks in the GGUF metadata or beside the checkpoint.
    /// </summary>
    public string? TokenizerPath { get; init; }

    /// <summary>
    /// Weights memory-mapped (zero copy, the default) or read once into huge-page memory, still in their file dtype;
    /// see <see cref="Loaders.FileResidency"/>.
    /// </summary>
    public Loaders.FileResidency WeightResidency { get; init; } = Loaders.FileResidency.Mapped;

    /// <summary>
    /// "cpu" (the default): the CPU backend. "cuda", "cuda:N", "opencl[:N]": the GPU backend on that device (weights
    /// uploaded once; <see cref="Threads"/> and <see cref="WeightResidency"/> do not apply). No usable device raises
    /// <see cref="Errors.GpuUnavailableException"/>, whose message says to use "cpu".
    /// </summary>
    public string Device { get; init; } = "cpu";
}
