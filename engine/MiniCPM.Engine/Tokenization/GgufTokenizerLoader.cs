using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Reads the tokenizer a GGUF file carries in its tokenizer.ggml.* metadata, as llama.cpp's converter writes it for
/// Qwen2: model "gpt2" (byte-level BPE), pre-tokenizer "qwen2", tokens, merges and token types. Other tokenizers are
/// refused rather than tokenized differently from the reference.
/// </summary>
public static class GgufTokenizerLoader
{
    public const string ModelKey = "tokenizer.ggml.model";
    public const string PreKey = "tokenizer.ggml.pre";
    public const string TokensKey = "tokenizer.ggml.tokens";
    public const string MergesKey = "tokenizer.ggml.merges";
    public const string TokenTypeKey = "tokenizer.ggml.token_type";

    /// <summary>Pre-tokenizer names llama.cpp maps to its Qwen2 split regex (LLAMA_VOCAB_PRE_TYPE_QWEN2).</summary>
    private static readonly string[] Qwen2PreTokenizers = ["qwen2", "deepseek-r1-qwen"];

    /// <summary>Whether the file has a tokenizer at all (an mmproj file or a bare weights file has none).</summary>
    public static bool HasTokenizer(GgufFile file) => file.Get(ModelKey) is not null || file.Get(TokensKey) is not null;

    /// <exception cref="ModelFormatException">No tokenizer, not Qwen2's, or malformed tokenizer metadata.</exception>
    public static Qwen2Tokenizer Load(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string path = file.SourcePath;
        if (!HasTokenizer(file)) throw new ModelFormatException(path, "the GGUF file has no tokenizer (no tokenizer.ggml.* metadata)");

        var model = String(file, ModelKey) ?? throw new ModelFormatException(path, $"metadata '{ModelKey}' is missing", ModelKey);
        if (model != "gpt2")
            throw new ModelFormatException(path, $"tokenizer model '{model}' is not supported (only 'gpt2', byte-level BPE as Qwen2 uses)", ModelKey);
        var pre = String(file, PreKey)
            ?? throw new ModelFormatException(path, $"metadata '{PreKey}' is missing: cannot tell which split regex the vocabulary needs", PreKey);
        if (!Qwen2PreTokenizers.Contains(pre))
            throw new ModelFormatException(path, $"pre-tokenizer '{pre}' is not supported (expected {string.Join(" or ", Qwen2PreTokenizers)})", PreKey);

        var tokens = StringArray(file, TokensKey) ?? throw new ModelFormatException(path, $"metadata '{TokensKey}' is missing", TokensKey);
        var merges = StringArray(file, MergesKey) ?? throw new ModelFormatException(path, $"metadata '{MergesKey}' is missing (a BPE vocabulary needs its merges)", MergesKey);
        int[]? types = file.Get(TokenTypeKey) is { } t ? IntArray(t, path) : null;
        return Qwen2Tokenizer.FromParts(tokens, merges, types, path);
    }

    private static string? String(GgufFile file, string key) =>
        file.Get(key) is null ? null : file.Require(key, v => v.AsString());

    private static string[]? StringArray(GgufFile file, string key) =>
        file.Get(key) is null ? null : file.Require(key, v => v.AsArray<string>());

    /// <summary>Token types as int32 (the converter writes i32; any integer element type is accepted, checked).</summary>
    private static int[] IntArray(GgufValue value, string path)
    {
        if (!value.IsArray || value.ElementType is not { } element || !element.IsInteger())
            throw new ModelFormatException(path, $"metadata '{TokenTypeKey}' must be an array of integers", TokenTypeKey);
        try
        {
            return element switch
            {
                GgufValueType.Int32 => value.AsArray<int>(),
                GgufValueType.UInt32 => value.AsArray<uint>().Select(v => checked((int)v)).ToArray(),
                GgufValueType.Int8 => value.AsArray<sbyte>().Select(v => (int)v).ToArray(),
                GgufValueType.UInt8 => value.AsArray<byte>().Select(v => (int)v).ToArray(),
                GgufValueType.Int16 => value.AsArray<short>().Select(v => (int)v).ToArray(),
                GgufValueType.UInt16 => value.AsArray<ushort>().Select(v => (int)v).ToArray(),
                GgufValueType.Int64 => value.AsArray<long>().Select(v => checked((int)v)).ToArray(),
                _ => value.AsArray<ulong>().Select(v => checked((int)v)).ToArray(),
            };
        }
        catch (OverflowException e)
        {
            throw new ModelFormatException(path, $"metadata '{TokenTypeKey}' holds a value outside int32", TokenTypeKey, inner: e);
        }
    }
}
