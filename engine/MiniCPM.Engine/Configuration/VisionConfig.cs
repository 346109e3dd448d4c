namespace MiniCPM.Engine.Configuration;

/// <summary>SigLIP (NaViT) vision tower hyper-parameters (HF `vision_config`, or GGUF `clip.vision.*`).</summary>
public sealed record VisionConfig
{
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int Heads { get; init; }
    /// <summary>Layers in the checkpoint.</summary>
    public required int Layers { get; init; }
    public int PatchSize { get; init; } = 14;
    /// <summary>SigLIP's configured image size; ImageSize / PatchSize patches per side in the position table (980 → 70).</summary>
    public int ImageSize { get; init; } = 980;
    public double LayerNormEps { get; init; } = 1e-6;
    public string Activation { get; init; } = "gelu_pytorch_tanh";
    /// <summary>MiniCPM's `drop_vision_last_layer`; false for 2.6 / o2.6 (all 27 layers run).</summary>
    public bool DropLastLayer { get; init; }
    public float[] ImageMean { get; init; } = [0.5f, 0.5f, 0.5f];
    public float[] ImageStd { get; init; } = [0.5f, 0.5f, 0.5f];

    public int HeadDim => HiddenSize / Heads;
    public int PositionGridSide => ImageSize / PatchSize;
    public int LayersUsed => DropLastLayer ? Layers - 1 : Layers;

    internal IEnumerable<string> Problems()
    {
        if (HiddenSize <= 0) yield return $"vision hidden_size {HiddenSize} must be positive";
        if (Heads <= 0 || HiddenSize % Math.Max(Heads, 1) != 0) yield return $"vision num_attention_heads {Heads} must divide hidden_size {HiddenSize}";
        if (IntermediateSize <= 0) yield return $"vision intermediate_size {IntermediateSize} must be positive";
        if (Layers <= 0 || LayersUsed <= 0) yield return $"vision num_hidden_layers {Layers} leaves no layer to run";
        if (PatchSize <= 0) yield return $"vision patch_size {PatchSize} must be positive";
        if (ImageSize < PatchSize) yield return $"vision image_size {ImageSize} must be at least patch_size {PatchSize}";
        if (ImageMean.Length != 3 || ImageStd.Length != 3) yield return "image mean/std must have 3 values";
    }
}
