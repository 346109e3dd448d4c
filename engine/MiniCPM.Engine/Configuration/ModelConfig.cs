namespace MiniCPM.Engine.Configuration;

/// <summary>
/// The one typed configuration every loader produces, whether it read an HF `config.json` or GGUF metadata.
/// Parts a checkpoint does not have are null (a text GGUF has no vision tower; an mmproj file has no LLM).
/// </summary>
public sealed record ModelConfig
{
    public required ModelFamily Family { get; init; }
    /// <summary>Where the configuration came from (a config.json path or a GGUF file).</summary>
    public required string Source { get; init; }
    public LlmConfig? Llm { get; init; }
    public VisionConfig? Vision { get; init; }
    public ResamplerConfig? Resampler { get; init; }
    public SliceConfig? Slicing { get; init; }
    public AudioConfig? Audio { get; init; }
    /// <summary>MiniCPM-o's speech head is configured (its weights are not used by the engine yet).</summary>
    public bool HasTts { get; init; }
    /// <summary>The checkpoint's int4 scheme (HF int4 checkpoints); null for float and GGUF checkpoints.</summary>
    public QuantizationConfig? Quantization { get; init; }

    /// <summary>Every inconsistency in the configuration, empty when it is usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (Llm is not null) problems.AddRange(Llm.Problems());
        if (Vision is not null) problems.AddRange(Vision.Problems());
        if (Resampler is not null)
        {
            problems.AddRange(Resampler.Problems());
            if (Llm is not null && Resampler.EmbedDim != Llm.HiddenSize)
                problems.Add($"resampler width {Resampler.EmbedDim} differs from the LLM hidden size {Llm.HiddenSize}");
            if (Vision is not null && Resampler.KvDim != Vision.HiddenSize)
                problems.Add($"resampler kv width {Resampler.KvDim} differs from the vision hidden size {Vision.HiddenSize}");
        }
        if (Audio is not null) problems.AddRange(Audio.Problems());
        return problems;
    }
}
