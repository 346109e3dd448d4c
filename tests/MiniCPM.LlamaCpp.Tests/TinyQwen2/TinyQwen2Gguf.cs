using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.LlamaCpp.Tests.TinyQwen2;

/// <summary>
/// Writes a qwen2 text-model GGUF with the project's <see cref="GgufWriter"/>, with the keys and tensors that
/// llama.cpp's convert_hf_to_gguf.py produces for a Qwen2 checkpoint: 2-D weights in the chosen type, norm weights
/// and biases in F32.
/// </summary>
internal static class TinyQwen2Gguf
{
    /// <summary>general.file_type (llama_ftype) of a file whose matrices are all <paramref name="weightType"/>.</summary>
    public static uint FileTypeOf(TensorType weightType) => weightType switch
    {
        TensorType.F32 => 0,
        TensorType.F16 => 1,
        TensorType.Q4_0 => 2,
        TensorType.Q8_0 => 7,
        TensorType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(weightType), weightType, "no llama_ftype chosen for this type"),
    };

    /// <summary>The metadata in the converter's order: general, qwen2.*, then tokenizer.*.</summary>
    public static List<KeyValuePair<string, GgufValue>> Metadata(Qwen2Hyperparameters c, ByteLevelVocabulary vocab, TensorType weightType) =>
    [
        new("general.architecture", GgufValue.FromString("qwen2")),
        new("general.name", GgufValue.FromString("tiny-random-qwen2")),
        new("qwen2.block_count", GgufValue.FromUInt32((uint)c.LayerCount)),
        new("qwen2.context_length", GgufValue.FromUInt32((uint)c.ContextLength)),
        new("qwen2.embedding_length", GgufValue.FromUInt32((uint)c.HiddenSize)),
        new("qwen2.feed_forward_length", GgufValue.FromUInt32((uint)c.IntermediateSize)),
        new("qwen2.attention.head_count", GgufValue.FromUInt32((uint)c.HeadCount)),
        new("qwen2.attention.head_count_kv", GgufValue.FromUInt32((uint)c.KvHeadCount)),
        new("qwen2.rope.freq_base", GgufValue.FromFloat32(c.RopeTheta)),
        new("qwen2.attention.layer_norm_rms_epsilon", GgufValue.FromFloat32(c.RmsNormEpsilon)),
        new("general.file_type", GgufValue.FromUInt32(FileTypeOf(weightType))),
        new("tokenizer.ggml.model", GgufValue.FromString("gpt2")),
        new("tokenizer.ggml.pre", GgufValue.FromString("qwen2")),
        new("tokenizer.ggml.tokens", GgufValue.FromArray(vocab.Tokens)),
        new("tokenizer.ggml.token_type", GgufValue.FromArray(vocab.TokenTypes)),
        new("tokenizer.ggml.merges", GgufValue.FromArray(vocab.Merges)),
        new("tokenizer.ggml.eos_token_id", GgufValue.FromUInt32((uint)vocab.ImEndId)),
        new("tokenizer.ggml.padding_token_id", GgufValue.FromUInt32((uint)vocab.EndOfTextId)),
        new("tokenizer.ggml.bos_token_id", GgufValue.FromUInt32((uint)vocab.EndOfTextId)),
        new("tokenizer.ggml.add_bos_token", GgufValue.FromBool(false)),
        new("general.quantization_version", GgufValue.FromUInt32(2)),
    ];

    /// <summary>The GGUF type a tensor is stored in when the file's matrices are <paramref name="weightType"/>.</summary>
    public static TensorType StoredType(NamedTensor tensor, TensorType weightType) => tensor.IsVector ? TensorType.F32 : weightType;

    public static void Write(string path, Qwen2Weights weights, ByteLevelVocabulary vocab, TensorType weightType)
    {
        var writer = new GgufWriter();
        foreach (var (key, value) in Metadata(weights.Config, vocab, weightType)) writer.AddMetadata(key, value);
        foreach (var tensor in weights.Tensors)
            writer.AddTensorFromFloats(tensor.Name, StoredType(tensor, weightType), tensor.Shape, tensor.Values);
        writer.WriteTo(path);
    }
}
