using System.Text.RegularExpressions;
using MiniCPM.Engine.Configuration;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Weights;

/// <summary>
/// Maps llama.cpp GGUF tensor names onto internal names: the `qwen2` text model (`token_embd`, `blk.N.*`, `output*`)
/// and the `clip` mmproj (`v.*`, `resampler.*`), including the legacy converter's swapped vision FFN names.
/// </summary>
public static class GgufWeightNames
{
    private static readonly NameRules Rules = new(
    [
        (@"^token_embd\.weight$", "llm.token_embd.weight"),
        (@"^output_norm\.weight$", "llm.output_norm.weight"),
        (@"^output\.weight$", "llm.output.weight"),
        (@"^blk\.(\d+)\.(attn_norm|ffn_norm|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$", "llm.blk.$1.$2.weight"),
        (@"^blk\.(\d+)\.(attn_q|attn_k|attn_v)\.(weight|bias)$", "llm.blk.$1.$2.$3"),

        (@"^v\.patch_embd\.(weight|bias)$", "vision.patch_embd.$1"),
        (@"^v\.position_embd\.weight$", "vision.position_embd.weight"),
        (@"^v\.blk\.(\d+)\.(ln1|ln2|attn_q|attn_k|attn_v|attn_out)\.(weight|bias)$", "vision.blk.$1.$2.$3"),
        (@"^v\.post_ln\.(weight|bias)$", "vision.post_ln.$1"),

        (@"^resampler\.query$", "resampler.query"),
        (@"^resampler\.kv\.weight$", "resampler.kv.weight"),
        (@"^resampler\.attn\.(q|k|v)\.(weight|bias)$", "resampler.attn_$1.$2"),
        (@"^resampler\.attn\.out\.(weight|bias)$", "resampler.attn_out.$1"),
        (@"^resampler\.(ln_q|ln_kv|ln_post)\.(weight|bias)$", "resampler.$1.$2"),
        // Stored as the [out, in] matrix already (the converter transposed HF's right-multiplied parameter).
        (@"^resampler\.proj\.weight$", "resampler.proj.weight"),
        // A generated sin-cos table; the engine computes its own, but keeps the tensor addressable.
        (@"^resampler\.pos_embed_k$", "resampler.pos_embed_k"),
    ]);

    private static readonly Regex VisionFfn = new(@"^v\.blk\.(\d+)\.ffn_(up|down)\.(weight|bias)$");

    /// <summary>
    /// Maps every tensor; <paramref name="config"/> supplies the vision width used to undo the legacy fc1/fc2 swap.
    /// </summary>
    public static WeightMap Map(ITensorFile file, ModelConfig config)
    {
        var map = new WeightMap();
        foreach (var tensor in file.Tensors)
        {
            var ffn = VisionFfn.Match(tensor.Name);
            if (ffn.Success)
            {
                map.Add(WeightSource.Whole($"vision.blk.{ffn.Groups[1].Value}.{VisionFfnRole(file, tensor, config)}.{ffn.Groups[3].Value}", tensor), file.SourcePath);
                continue;
            }
            var target = Translate(tensor.Name);
            if (target is null) map.AddUnmapped(tensor);
            else map.Add(WeightSource.Whole(target, tensor), file.SourcePath);
        }
        return map;
    }

    public static string? Translate(string ggufName) => Rules.Translate(ggufName);

    /// <summary>
    /// Decides from the shape which FFN matrix a vision tensor really is: the one that reads the hidden width is the
    /// widening `ffn_up` (HF fc1), whatever the file calls it. Legacy MiniCPM-V mmproj files name fc1 `ffn_down`.
    /// </summary>
    private static string VisionFfnRole(ITensorFile file, TensorInfo tensor, ModelConfig config)
    {
        int hidden = config.Vision?.HiddenSize ?? throw new ModelFormatException(file.SourcePath, "vision FFN tensor in a file without a vision configuration", tensor.Name);
        int intermediate = config.Vision.IntermediateSize;
        bool isWeight = tensor.Name.EndsWith(".weight", StringComparison.Ordinal);
        long[] s = tensor.Shape;
        if (isWeight && s.Length == 2)
        {
            if (s[1] == hidden && s[0] == intermediate) return "ffn_up";
            if (s[1] == intermediate && s[0] == hidden) return "ffn_down";
        }
        else if (!isWeight && s.Length == 1)
        {
            if (s[0] == intermediate && s[0] != hidden) return "ffn_up";
            if (s[0] == hidden && s[0] != intermediate) return "ffn_down";
        }
        // Square FFNs (hidden == intermediate) carry no shape evidence: trust the name.
        if (hidden == intermediate) return tensor.Name.Contains("ffn_up", StringComparison.Ordinal) ? "ffn_up" : "ffn_down";
        throw new ModelFormatException(file.SourcePath, $"vision FFN tensor has shape {tensor.ShapeText}, which fits neither {hidden}→{intermediate} nor {intermediate}→{hidden}", tensor.Name);
    }
}
