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
    /// llama.cpp's vision projector (mmproj-*.gguf) for a text GGUF; an HF folder carries its vision tower itself.
    /// Null: images work only when the checkpoint has vpm.* and resampler.* weights.
    /// </summary>
    public string? MmprojPath { get; init; }

    /// <summary>Load the vision tower and audio encoder when the checkpoint has them (false: text only, less memory).</summary>
    public bool LoadMediaEncoders { get; init; } = true;

    /// <summary>
    /// Check every quantized block's scale for NaN/Inf at load (a typed error naming the tensor and block). It reads
    /// the scales of the whole file once — the pages the first forward pass would read anyway; false skips it.
    /// </summary>
    public bool ValidateQuantizedScales { get; init; } = true;

    /// <summary>
    /// "cpu" (the default): the CPU backend. "cuda", "cuda:N", "opencl[:N]": the GPU backend on that device (weights
    /// uploaded once; <see cref="Threads"/> and <see cref="WeightResidency"/> do not apply). No usable device raises
    /// <see cref="Errors.GpuUnavailableException"/>, whose message says to use "cpu".
    /// </summary>
    public string Device { get; init; } = "cpu";

    /// <summary>
    /// On a GPU device, the most bytes the engine's buffers may take (null: what the device has), e.g. to leave room
    /// for another process on a shared GPU. A model that does not fit raises <see cref="Errors.GpuOutOfMemoryException"/>
    /// before anything is uploaded. Ignored on the CPU backend.
    /// </summary>
    public long? GpuMemoryLimitBytes { get; init; }
}
