namespace MiniCPM.Engine.Configuration;

/// <summary>Which kind of checkpoint a configuration describes.</summary>
public enum ModelFamily
{
    /// <summary>A plain Qwen2 / Qwen2.5 causal LM (e.g. the text GGUF of MiniCPM-V 2.6).</summary>
    Qwen2,
    /// <summary>MiniCPM-V 2.6: Qwen2 + SigLIP + resampler.</summary>
    MiniCPMV26,
    /// <summary>MiniCPM-o 2.6: MiniCPM-V 2.6 plus Whisper audio encoder and TTS.</summary>
    MiniCPMO26,
    /// <summary>A llama.cpp `clip` mmproj file: the vision tower and resampler alone.</summary>
    VisionProjector,
}
