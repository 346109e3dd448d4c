namespace MiniCPM.Engine.Configuration;

/// <summary>MiniCPM-o's Whisper encoder (`audio_config`) and the pooling that follows its projection.</summary>
public sealed record AudioConfig
{
    public required int DModel { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int FfnDim { get; init; }
    public int MelBins { get; init; } = 80;
    public int MaxSourcePositions { get; init; } = 1500;
    public string Activation { get; init; } = "gelu";
    /// <summary>`audio_pool_step`: AvgPool1d kernel and stride after the projection.</summary>
    public int PoolStep { get; init; } = 2;
    /// <summary>`audio_chunk_length` in seconds (block-causal mask); ≤ 0 means full attention.</summary>
    public double ChunkLengthSeconds { get; init; } = 1.0;
    /// <summary>Whisper uses nn.LayerNorm's default eps.</summary>
    public double LayerNormEps => 1e-5;

    public int HeadDim => DModel / Heads;

    internal IEnumerable<string> Problems()
    {
        if (DModel <= 0 || Heads <= 0 || DModel % Math.Max(Heads, 1) != 0) yield return $"audio d_model {DModel} must be divisible by encoder_attention_heads {Heads}";
        if (Layers <= 0) yield return $"audio encoder_layers {Layers} must be positive";
        if (FfnDim <= 0) yield return $"audio encoder_ffn_dim {FfnDim} must be positive";
        if (MelBins <= 0) yield return $"audio num_mel_bins {MelBins} must be positive";
        if (MaxSourcePositions <= 0) yield return $"audio max_source_positions {MaxSourcePositions} must be positive";
        if (PoolStep <= 0) yield return $"audio_pool_step {PoolStep} must be positive";
    }
}
