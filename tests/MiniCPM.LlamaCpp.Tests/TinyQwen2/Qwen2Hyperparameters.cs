namespace MiniCPM.LlamaCpp.Tests.TinyQwen2;

/// <summary>The sizes of a Qwen2 decoder, as written to the qwen2.* GGUF keys.</summary>
internal sealed record Qwen2Hyperparameters(
    int HiddenSize,
    int LayerCount,
    int HeadCount,
    int KvHeadCount,
    int IntermediateSize,
    int ContextLength,
    float RopeTheta,
    float RmsNormEpsilon)
{
    /// <summary>
    /// Hidden 256 (a multiple of 256 so K-quant rows fit), 2 layers, 4 heads of 64, 2 KV heads, intermediate 512.
    /// θ = 10000 rather than Qwen2's 1e6 so that the rotation angles of a few positions are large in most frequency
    /// pairs, which makes a wrong RoPE layout visible in the logits.
    /// </summary>
    public static Qwen2Hyperparameters Tiny { get; } = new(
        HiddenSize: 256, LayerCount: 2, HeadCount: 4, KvHeadCount: 2, IntermediateSize: 512,
        ContextLength: 128, RopeTheta: 10000f, RmsNormEpsilon: 1e-6f);

    public int HeadDim => HiddenSize / HeadCount;
    public int KvWidth => KvHeadCount * HeadDim;
}
