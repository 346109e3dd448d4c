using MiniCPM.Engine.Tokenization;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.ModelFiles;

/// <summary>Where a model's tokenizer was found.</summary>
public enum TokenizerLocation
{
    /// <summary>The tokenizer.ggml.* metadata of a GGUF file.</summary>
    GgufMetadata,
    /// <summary>A Hugging Face tokenizer (tokenizer.json, or vocab.json + merges.txt) in a folder.</summary>
    HfFolder,
    /// <summary>A tokenizer.json (or .json.gz) file given directly.</summary>
    TokenizerJson,
}

/// <summary>
/// Finds and loads the tokenizer that belongs to a model path: a GGUF file (its metadata), an HF folder (its
/// tokenizer.json and the config files beside it), a safetensors file (the tokenizer.json in its folder), or a
/// tokenizer.json file itself.
/// </summary>
public static class ModelTokenizer
{
    /// <exception cref="TokenizerNotFoundException">The path is a model without a tokenizer where one belongs.</exception>
    /// <exception cref="ModelFormatException">The path does not exist, or the tokenizer found is malformed or not Qwen2's.</exception>
    public static Qwen2Tokenizer Load(string path) => Load(path, out _);

    /// <inheritdoc cref="Load(string)"/>
    public static Qwen2Tokenizer Load(string path, out TokenizerLocation location)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
        {
            location = TokenizerLocation.HfFolder;
            return LoadFolder(path, path);
        }
        if (!File.Exists(path)) throw new ModelFormatException(path, "no such file or folder");

        if (IsGguf(path))
        {
            location = TokenizerLocation.GgufMetadata;
            using var gguf = GgufFile.Open(path);
            if (!GgufTokenizerLoader.HasTokenizer(gguf))
                throw new TokenizerNotFoundException(path, "the GGUF file carries no tokenizer (no tokenizer.ggml.* metadata)");
            return GgufTokenizerLoader.Load(gguf);
        }
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            location = TokenizerLocation.HfFolder;
            return LoadFolder(Path.GetDirectoryName(Path.GetFullPath(path))!, path);
        }
        location = TokenizerLocation.TokenizerJson;
        return Qwen2Tokenizer.FromHuggingFace(path);
    }

    private static Qwen2Tokenizer LoadFolder(string folder, string modelPath)
    {
        bool hasJson = File.Exists(Path.Combine(folder, "tokenizer.json"));
        bool hasSlowFiles = File.Exists(Path.Combine(folder, "vocab.json")) && File.Exists(Path.Combine(folder, "merges.txt"));
        if (!hasJson && !hasSlowFiles)
            throw new TokenizerNotFoundException(modelPath, $"no tokenizer.json (or vocab.json + merges.txt) in {folder}");
        return Qwen2Tokenizer.FromHuggingFace(folder);
    }

    private static bool IsGguf(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        return stream.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && head.SequenceEqual("GGUF"u8);
    }
}
