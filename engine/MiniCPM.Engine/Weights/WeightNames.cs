namespace MiniCPM.Engine.Weights;

/// <summary>
/// The engine's one naming of weights, whatever file they come from. Component prefix (`llm.`, `vision.`,
/// `resampler.`, `audio.`, `audio_proj.`), then GGUF-like short names. Linear weights are [out, in]; in the vision and
/// audio MLPs `ffn_up` is the widening matrix (HF fc1) and `ffn_down` the narrowing one (fc2).
/// </summary>
public static class WeightNames
{
    public const string TokenEmbedding = "llm.token_embd.weight";
    public const string OutputNorm = "llm.output_norm.weight";
    public const string Output = "llm.output.weight";

    public static string Llm(int layer, string part) => $"llm.blk.{layer}.{part}";
    public static string Vision(int layer, string part) => $"vision.blk.{layer}.{part}";
    public static string Audio(int layer, string part) => $"audio.blk.{layer}.{part}";
}
