namespace MiniCPM.Engine.Configuration;

/// <summary>Hyper-parameters of the Qwen2 decoder (HF `config.json` top level, or GGUF `qwen2.*`).</summary>
public sealed record LlmConfig
{
    public required int HiddenSize { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int IntermediateSize { get; init; }
    public required int VocabSize { get; init; }
    public int MaxPositions { get; init; } = 32768;
    public double RopeTheta { get; init; } = 1_000_000.0;
    public double RmsNormEps { get; init; } = 1e-6;
    public bool TieWordEmbeddings { get; init; }
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }

    public int HeadDim => HiddenSize / Heads;

    /// <summary>Query heads per KV head (grouped-query attention).</summary>
    public int GroupSize => Heads / KvHeads;

    internal IEnumerable<string> Problems()
    {
        if (HiddenSize <= 0) yield return $"hidden_size {HiddenSize} must be positive";
        if (Layers <= 0) yield return $"num_hidden_layers {Layers} must be positive";
        if (Heads <= 0 || HiddenSize % Math.Max(Heads, 1) != 0) yield return $"num_attention_heads {Heads} must divide hidden_size {HiddenSize}";
        if (KvHeads <= 0 || Heads % Math.Max(KvHeads, 1) != 0) yield return $"num_key_value_heads {KvHeads} must divide num_attention_heads {Heads}";
        if (Heads > 0 && HiddenSize % Heads == 0 && HeadDim % 2 != 0) yield return $"head_dim {HeadDim} must be even for rotary embeddings";
        if (IntermediateSize <= 0) yield return $"intermediate_size {IntermediateSize} must be positive";
        if (VocabSize <= 0) yield return $"vocab_size {VocabSize} must be positive";
        if (MaxPositions <= 0) yield return $"max_position_embeddings {MaxPositions} must be positive";
        if (!(RopeTheta > 0)) yield return $"rope_theta {RopeTheta} must be positive";
        if (!(RmsNormEps > 0)) yield return $"rms_norm_eps {RmsNormEps} must be positive";
    }
}
