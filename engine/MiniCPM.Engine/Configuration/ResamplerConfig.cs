namespace MiniCPM.Engine.Configuration;

/// <summary>The perceiver resampler: one cross-attention from learned queries onto the vision features.</summary>
public sealed record ResamplerConfig
{
    /// <summary>Learned queries = image tokens per slice (`query_num`, 64).</summary>
    public int Queries { get; init; } = 64;
    /// <summary>Output width = LLM hidden size.</summary>
    public required int EmbedDim { get; init; }
    /// <summary>Input width = vision hidden size.</summary>
    public required int KvDim { get; init; }
    /// <summary>Side of the cached sin-cos position grid (70).</summary>
    public int MaxGridSide { get; init; } = 70;

    /// <summary>MiniCPM builds the resampler with embed_dim // 128 heads (head size 128).</summary>
    public int Heads => EmbedDim / 128;
    public int HeadDim => 128;

    internal IEnumerable<string> Problems()
    {
        if (Queries <= 0) yield return $"query_num {Queries} must be positive";
        if (EmbedDim <= 0 || EmbedDim % 128 != 0) yield return $"resampler embed dim {EmbedDim} must be a positive multiple of 128";
        if (KvDim <= 0) yield return $"resampler kv dim {KvDim} must be positive";
    }
}
