using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Conversion;

/// <summary>
/// llama.cpp's choice of a type for each tensor when it quantizes a model (llama-quant.cpp:
/// <c>tensor_allows_quantization</c>, <c>llama_tensor_get_type_impl</c>, <c>tensor_type_fallback</c>), for the file
/// types of <see cref="QuantizationScheme"/> and dense (non-MoE) text models. The mix rules count attn_v and
/// ffn_down tensors in the order the tensors are visited, so <see cref="Choose"/> must be called in llama.cpp's
/// order (<see cref="LlamaOrder"/>).
/// </summary>
internal sealed class LlamaQuantTypeChoice(QuantizationScheme scheme, int layerCount, int headCount, int kvHeadCount, bool hasOutputTensor, int attentionVCount)
{
    private int _attentionV;
    private int _ffnDown;

    /// <summary>Tensors whose row length forced a fallback type so far.</summary>
    public int Fallbacks { get; private set; }

    /// <summary>
    /// llama_model_loader's weight order: tensors outside blocks first, then by block number, each group by name
    /// (byte order). The quantized file is written in this order.
    /// </summary>
    public static int LlamaOrder(string a, string b)
    {
        int layerA = BlockNumber(a), layerB = BlockNumber(b);
        return layerA != layerB ? layerA.CompareTo(layerB) : string.CompareOrdinal(a, b);
    }

    /// <summary>Number of "attn_v"-like tensors (attn_v, attn_qkv, attn_kv_b), as llama.cpp counts them up front.</summary>
    public static int CountAttentionV(IEnumerable<string> names) => names.Count(n => Category(n) is TensorCategory.AttentionV);

    /// <summary>
    /// Whether llama.cpp quantizes this tensor at all: 2-D or more (trailing 1s ignored), a name ending in "weight"
    /// that is not a norm, and none of the small or positional tensors it keeps as they are.
    /// </summary>
    public static bool AllowsQuantization(string name, long[] shapeOutermostFirst)
    {
        if (Dimensions(shapeOutermostFirst) < 2) return false;
        if (!name.EndsWith("weight", StringComparison.Ordinal)) return false;
        string[] kept =
        [
            "_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
            "ffn_gate_tid2eid.weight", "indexer.k_proj.weight", "indexer.q_proj.weight", "time_mix_", "attn_rel_b.weight",
            ".position_embd", ".patch_embd", ".patch_merger", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
            "a.rvq.codebook", "mm.a.code_embd",
        ];
        if (kept.Any(k => name.Contains(k, StringComparison.Ordinal))) return false;
        return name is not ("position_embd.weight" or "token_types.weight");
    }

    /// <summary>The type llama.cpp gives a quantizable tensor with rows of <paramref name="rowLength"/> elements.</summary>
    public TensorType Choose(string name, long rowLength)
    {
        var type = scheme.BaseType;
        if (!scheme.Pure) type = Mix(name, rowLength, type);
        return Fallback(type, rowLength);
    }

    private TensorType Mix(string name, long rowLength, TensorType type)
    {
        var category = Category(name);
        uint ftype = scheme.FileType;
        if (category == TensorCategory.Output || (!hasOutputTensor && category == TensorCategory.TokenEmbedding))
        {
            // The output projection (or the tied embedding that serves as it) keeps 6 bits unless it cannot.
            if (rowLength % type.BlockElements() != 0) return TensorType.Q8_0;
            return type != TensorType.Q8_0 ? TensorType.Q6_K : type;
        }
        switch (category)
        {
            case TensorCategory.AttentionV:
            {
                int i = _attentionV++;
                if (ftype == FileTypes.Q2_K) return headCount / kvHeadCount >= 4 ? TensorType.Q4_K : TensorType.Q3_K;
                if ((ftype == FileTypes.Q4_K_M || ftype == FileTypes.Q5_K_M) && UseMoreBits(i, attentionVCount)) return TensorType.Q6_K;
                if (ftype == FileTypes.Q4_K_S && i < 4) return TensorType.Q5_K;
                return type;
            }
            case TensorCategory.FfnDown:
            {
                int i = _ffnDown++;
                if (ftype == FileTypes.Q2_K) return TensorType.Q3_K;
                if ((ftype == FileTypes.Q4_K_M || ftype == FileTypes.Q5_K_M) && UseMoreBits(i, layerCount)) return TensorType.Q6_K;
                if (ftype == FileTypes.Q4_K_S && i < layerCount / 8) return TensorType.Q5_K;
                return type;
            }
            case TensorCategory.AttentionOutput:
                return ftype == FileTypes.Q2_K ? TensorType.Q3_K : type;
            default:
                return type;
        }
    }

    /// <summary>A type whose block does not divide the row falls back to a 32-element type of similar size, else F16.</summary>
    private TensorType Fallback(TensorType type, long rowLength)
    {
        if (rowLength % type.BlockElements() == 0) return type;
        Fallbacks++;
        var fallback = type switch
        {
            TensorType.Q2_K or TensorType.Q3_K => TensorType.Q4_0,
            TensorType.Q4_K => TensorType.Q5_0,
            TensorType.Q5_K => TensorType.Q5_1,
            TensorType.Q6_K => TensorType.Q8_0,
            _ => throw new NotSupportedException($"rows of {rowLength} elements cannot be stored as {type} and llama.cpp defines no fallback for it"),
        };
        return rowLength % fallback.BlockElements() == 0 ? fallback : TensorType.F16;
    }

    /// <summary>The layers that get more bits in the *_M mixes: the first and last eighth, and every third in between.</summary>
    private static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    private enum TensorCategory { TokenEmbedding, Output, AttentionV, AttentionOutput, FfnDown, Other }

    private static TensorCategory Category(string name)
    {
        if (name == "output.weight") return TensorCategory.Output;
        if (name is "token_embd.weight" or "per_layer_token_embd.weight") return TensorCategory.TokenEmbedding;
        if (name.Contains("attn_qkv.weight", StringComparison.Ordinal) || name.Contains("attn_kv_b.weight", StringComparison.Ordinal) ||
            name.Contains("attn_v.weight", StringComparison.Ordinal))
            return TensorCategory.AttentionV;
        if (name.Contains("attn_output.weight", StringComparison.Ordinal)) return TensorCategory.AttentionOutput;
        if (name.Contains("ffn_down", StringComparison.Ordinal)) return TensorCategory.FfnDown;
        return TensorCategory.Other;
    }

    private static int BlockNumber(string name)
    {
        // sscanf("blk.%d.") semantics: the number must follow "blk." and be followed by '.'; otherwise −1.
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return -1;
        int end = 4;
        while (end < name.Length && char.IsAsciiDigit(name[end])) end++;
        return end > 4 && int.TryParse(name.AsSpan(4, end - 4), out int n) ? n : -1;
    }

    private static int Dimensions(long[] shapeOutermostFirst)
    {
        // ggml_n_dims: the highest dimension (innermost first) above 1, at least 1.
        int n = 1;
        for (int i = 0; i < shapeOutermostFirst.Length; i++)
            if (shapeOutermostFirst[shapeOutermostFirst.Length - 1 - i] > 1) n = i + 1;
        return n;
    }

    private static class FileTypes
    {
        public const uint Q2_K = 10, Q4_K_S = 14, Q4_K_M = 15, Q5_K_M = 17;
    }
}
