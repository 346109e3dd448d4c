using MiniCPM.Engine.Configuration;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Weights;

/// <summary>
/// Maps Hugging Face tensor names (MiniCPM-V 2.6 / MiniCPM-o 2.6 with `llm.`, `vpm.`, `resampler.`, `apm.`,
/// `audio_projection_layer.` prefixes, or a plain Qwen2 checkpoint without `llm.`) onto internal names.
/// </summary>
public static class HfWeightNames
{
    private static readonly NameRules Rules = new(
    [
        // Qwen2 decoder ("llm." in MiniCPM, absent in a plain Qwen2 folder).
        (@"^(?:llm\.)?model\.embed_tokens\.weight$", "llm.token_embd.weight"),
        (@"^(?:llm\.)?model\.norm\.weight$", "llm.output_norm.weight"),
        (@"^(?:llm\.)?lm_head\.weight$", "llm.output.weight"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.input_layernorm\.weight$", "llm.blk.$1.attn_norm.weight"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)$", "llm.blk.$1.attn_q.$2"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.self_attn\.k_proj\.(weight|bias)$", "llm.blk.$1.attn_k.$2"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.self_attn\.v_proj\.(weight|bias)$", "llm.blk.$1.attn_v.$2"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.self_attn\.o_proj\.weight$", "llm.blk.$1.attn_output.weight"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.post_attention_layernorm\.weight$", "llm.blk.$1.ffn_norm.weight"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.mlp\.gate_proj\.weight$", "llm.blk.$1.ffn_gate.weight"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.mlp\.up_proj\.weight$", "llm.blk.$1.ffn_up.weight"),
        (@"^(?:llm\.)?model\.layers\.(\d+)\.mlp\.down_proj\.weight$", "llm.blk.$1.ffn_down.weight"),

        // SigLIP NaViT vision tower.
        (@"^vpm\.embeddings\.patch_embedding\.(weight|bias)$", "vision.patch_embd.$1"),
        (@"^vpm\.embeddings\.position_embedding\.weight$", "vision.position_embd.weight"),
        (@"^vpm\.encoder\.layers\.(\d+)\.layer_norm1\.(weight|bias)$", "vision.blk.$1.ln1.$2"),
        (@"^vpm\.encoder\.layers\.(\d+)\.layer_norm2\.(weight|bias)$", "vision.blk.$1.ln2.$2"),
        (@"^vpm\.encoder\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.(weight|bias)$", "vision.blk.$1.attn_$2.$3"),
        (@"^vpm\.encoder\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)$", "vision.blk.$1.attn_out.$2"),
        (@"^vpm\.encoder\.layers\.(\d+)\.mlp\.fc1\.(weight|bias)$", "vision.blk.$1.ffn_up.$2"),
        (@"^vpm\.encoder\.layers\.(\d+)\.mlp\.fc2\.(weight|bias)$", "vision.blk.$1.ffn_down.$2"),
        (@"^vpm\.post_layernorm\.(weight|bias)$", "vision.post_ln.$1"),

        // Resampler (in_proj and proj are handled in Map: they need a split and a transpose).
        (@"^resampler\.query$", "resampler.query"),
        (@"^resampler\.kv_proj\.weight$", "resampler.kv.weight"),
        (@"^resampler\.attn\.out_proj\.(weight|bias)$", "resampler.attn_out.$1"),
        (@"^resampler\.(ln_q|ln_kv|ln_post)\.(weight|bias)$", "resampler.$1.$2"),

        // Whisper encoder and audio projection (MiniCPM-o).
        (@"^apm\.(conv1|conv2)\.(weight|bias)$", "audio.$1.$2"),
        (@"^apm\.embed_positions\.weight$", "audio.position_embd.weight"),
        (@"^apm\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.(weight|bias)$", "audio.blk.$1.attn_$2.$3"),
        (@"^apm\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)$", "audio.blk.$1.attn_out.$2"),
        (@"^apm\.layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)$", "audio.blk.$1.ln1.$2"),
        (@"^apm\.layers\.(\d+)\.final_layer_norm\.(weight|bias)$", "audio.blk.$1.ln2.$2"),
        (@"^apm\.layers\.(\d+)\.fc1\.(weight|bias)$", "audio.blk.$1.ffn_up.$2"),
        (@"^apm\.layers\.(\d+)\.fc2\.(weight|bias)$", "audio.blk.$1.ffn_down.$2"),
        (@"^apm\.layer_norm\.(weight|bias)$", "audio.post_ln.$1"),
        (@"^audio_projection_layer\.(linear1|linear2)\.(weight|bias)$", "audio_proj.$1.$2"),
    ]);

    /// <summary>
    /// Maps every tensor of an HF checkpoint; unknown names are kept in <see cref="WeightMap.Unmapped"/>. The int4
    /// linears of a quantized checkpoint (bitsandbytes, GPTQ; <paramref name="quantization"/> from its config) map as
    /// one weight each, named as the float checkpoint would name it, with the family in <see cref="WeightSource.Quantized"/>.
    /// </summary>
    public static WeightMap Map(ITensorFile file, QuantizationConfig? quantization = null)
    {
        var map = new WeightMap();
        var families = QuantizedFamilies.Find(file, quantization);
        foreach (var tensor in file.Tensors)
        {
            if (families.ByMainTensor.TryGetValue(tensor.Name, out var family))
            {
                var weightTarget = Translate(family.WeightName);
                if (weightTarget is null) map.AddUnmapped(tensor);
                else map.Add(new WeightSource(weightTarget, tensor, 0, family.Linear.Rows, false) { Quantized = family.Linear }, file.SourcePath);
                continue;
            }
            if (families.Members.Contains(tensor.Name)) continue; // a companion of a family mapped above
            if (tensor.Name.StartsWith("tts.", StringComparison.Ordinal))
            {
                map.AddIgnored(tensor, "MiniCPM-o speech output (TTS) is not implemented");
                continue;
            }
            if (tensor.Name is "resampler.attn.in_proj_weight" or "resampler.attn.in_proj_bias")
            {
                AddInProjSplit(map, file.SourcePath, tensor);
                continue;
            }
            if (tensor.Name == "resampler.proj")
            {
                // HF applies it as x @ proj; the engine's [out, in] weight is its transpose.
                if (tensor.Shape.Length != 2) throw new ModelFormatException(file.SourcePath, $"resampler.proj must be 2-D, found {tensor.ShapeText}", tensor.Name);
                map.Add(new WeightSource("resampler.proj.weight", tensor, 0, tensor.Shape[0], Transposed: true), file.SourcePath);
                continue;
            }
            var target = Translate(tensor.Name);
            if (target is null) map.AddUnmapped(tensor);
            else map.Add(WeightSource.Whole(target, tensor), file.SourcePath);
        }
        return map;
    }

    /// <summary>The internal name of an HF tensor name handled by the plain rules, or null.</summary>
    public static string? Translate(string hfName) => Rules.Translate(hfName);

    /// <summary>nn.MultiheadAttention packs Wq, Wk, Wv as consecutive row blocks of in_proj.</summary>
    private static void AddInProjSplit(WeightMap map, string sourcePath, TensorInfo tensor)
    {
        long rows = tensor.Shape.Length == 0 ? 0 : tensor.Shape[0];
        if (rows == 0 || rows % 3 != 0)
            throw new ModelFormatException(sourcePath, $"packed in_proj must have 3·d rows, found {tensor.ShapeText}", tensor.Name);
        long d = rows / 3;
        string suffix = tensor.Name.EndsWith("weight", StringComparison.Ordinal) ? "weight" : "bias";
        string[] parts = ["q", "k", "v"];
        for (int i = 0; i < 3; i++)
            map.Add(new WeightSource($"resampler.attn_{parts[i]}.{suffix}", tensor, i * d, d, false), sourcePath);
    }
}
