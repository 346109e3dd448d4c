using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Conversion;

/// <summary>
/// The one way the project writes a llama.cpp `qwen2` text-model GGUF: the metadata keys and the tensor names, order and
/// types of llama.cpp's convert_hf_to_gguf.py (matrices in the chosen type, norms and biases in F32). Used by the HF
/// converter (<see cref="GgufExport"/>) and by the synthetic-model maker; each supplies the weights by engine name.
/// </summary>
internal static class Qwen2Gguf
{
    private const string Arch = "qwen2";

    /// <summary>
    /// Writes <paramref name="path"/>. <paramref name="weight"/> gives each engine weight (e.g. llm.blk.0.attn_q.weight)
    /// as rows; <paramref name="tokenizerMetadata"/> (tokenizer.ggml.* keys other than bos/eos) may be empty.
    /// </summary>
    public static void Write(string path, LlmConfig llm, string modelName, TensorType weightType,
        Func<string, FloatRows> weight, IEnumerable<KeyValuePair<string, GgufValue>> tokenizerMetadata)
    {
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString(Arch));
        writer.AddMetadata("general.name", GgufValue.FromString(modelName));
        writer.AddMetadata($"{Arch}.block_count", GgufValue.FromUInt32((uint)llm.Layers));
        writer.AddMetadata($"{Arch}.context_length", GgufValue.FromUInt32((uint)llm.MaxPositions));
        writer.AddMetadata($"{Arch}.embedding_length", GgufValue.FromUInt32((uint)llm.HiddenSize));
        writer.AddMetadata($"{Arch}.feed_forward_length", GgufValue.FromUInt32((uint)llm.IntermediateSize));
        writer.AddMetadata($"{Arch}.attention.head_count", GgufValue.FromUInt32((uint)llm.Heads));
        writer.AddMetadata($"{Arch}.attention.head_count_kv", GgufValue.FromUInt32((uint)llm.KvHeads));
        writer.AddMetadata($"{Arch}.rope.freq_base", GgufValue.FromFloat32((float)llm.RopeTheta));
        writer.AddMetadata($"{Arch}.attention.layer_norm_rms_epsilon", GgufValue.FromFloat32((float)llm.RmsNormEps));
        writer.AddMetadata("general.file_type", GgufValue.FromUInt32(GgufExport.FileType(weightType)));
        writer.AddMetadata("general.quantization_version", GgufValue.FromUInt32(2));
        if (llm.BosTokenId is { } bos) writer.AddMetadata("tokenizer.ggml.bos_token_id", GgufValue.FromUInt32((uint)bos));
        if (llm.EosTokenId is { } eos) writer.AddMetadata("tokenizer.ggml.eos_token_id", GgufValue.FromUInt32((uint)eos));
        foreach (var (key, value) in tokenizerMetadata) writer.AddMetadata(key, value);

        var encoder = new GgufTensorEncoder(writer);
        foreach (var (ggufName, engineName, isMatrix) in Tensors(llm))
            encoder.Add(ggufName, weight(engineName), isMatrix ? weightType : TensorType.F32);
        writer.WriteTo(path);
    }

    /// <summary>The tensors of the file in order: GGUF name, engine name, and whether it is a matrix (else F32).</summary>
    public static IEnumerable<(string GgufName, string EngineName, bool IsMatrix)> Tensors(LlmConfig llm)
    {
        yield return ("token_embd.weight", WeightNames.TokenEmbedding, true);
        for (int i = 0; i < llm.Layers; i++)
        {
            yield return ($"blk.{i}.attn_norm.weight", WeightNames.Llm(i, "attn_norm.weight"), false);
            foreach (var part in new[] { "attn_q", "attn_k", "attn_v" })
            {
                yield return ($"blk.{i}.{part}.weight", WeightNames.Llm(i, $"{part}.weight"), true);
                yield return ($"blk.{i}.{part}.bias", WeightNames.Llm(i, $"{part}.bias"), false);
            }
            yield return ($"blk.{i}.attn_output.weight", WeightNames.Llm(i, "attn_output.weight"), true);
            yield return ($"blk.{i}.ffn_norm.weight", WeightNames.Llm(i, "ffn_norm.weight"), false);
            foreach (var part in new[] { "ffn_gate", "ffn_up", "ffn_down" })
                yield return ($"blk.{i}.{part}.weight", WeightNames.Llm(i, $"{part}.weight"), true);
        }
        yield return ("output_norm.weight", WeightNames.OutputNorm, false);
        if (!llm.TieWordEmbeddings) yield return ("output.weight", WeightNames.Output, true);
    }
}
