using System.IO.Compression;
using System.Text.Json;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>
/// Loads the real Qwen2 vocabulary once for all tokenizer tests: through the Hugging Face loader, and through the GGUF-style
/// parts loader with parts built here straight from tokenizer.json (independently of the loader under test).
/// </summary>
public sealed class Qwen2TokenizerFixture
{
    private readonly Lazy<Qwen2Tokenizer> _fromParts;

    public Qwen2TokenizerFixture()
    {
        FromJson = Qwen2Tokenizer.FromHuggingFace(TokenizerTestData.TokenizerJsonGz);
        _fromParts = new Lazy<Qwen2Tokenizer>(BuildFromParts);
    }

    public Qwen2Tokenizer FromJson { get; }

    public Qwen2Tokenizer FromParts => _fromParts.Value;

    /// <summary>Token list, merges and token types as llama.cpp's converter writes them into a GGUF.</summary>
    public static (List<string> Tokens, List<string> Merges, List<int> Types) ReadParts()
    {
        using var gz = new GZipStream(File.OpenRead(TokenizerTestData.TokenizerJsonGz), CompressionMode.Decompress);
        using var doc = JsonDocument.Parse(gz);
        var model = doc.RootElement.GetProperty("model");
        var byId = new SortedDictionary<int, (string Text, int Type)>();
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) byId[p.Value.GetInt32()] = (p.Name, 1);
        foreach (var t in doc.RootElement.GetProperty("added_tokens").EnumerateArray())
            byId[t.GetProperty("id").GetInt32()] =
                (t.GetProperty("content").GetString()!, t.GetProperty("special").GetBoolean() ? 3 : 4);

        var tokens = new List<string>();
        var types = new List<int>();
        foreach (var (id, (text, type)) in byId)
        {
            while (tokens.Count < id) { tokens.Add($"[PAD{tokens.Count}]"); types.Add(5); }
            tokens.Add(text);
            types.Add(type);
        }
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m[0].GetString() + " " + m[1].GetString())
            .ToList();
        return (tokens, merges, types);
    }

    private static Qwen2Tokenizer BuildFromParts()
    {
        var (tokens, merges, types) = ReadParts();
        return Qwen2Tokenizer.FromParts(tokens, merges, types, "test parts");
    }
}

/// <summary>All tokenizer test classes share one loaded vocabulary (loading takes about two seconds).</summary>
[CollectionDefinition(Name)]
public sealed class Qwen2TokenizerCollection : ICollectionFixture<Qwen2TokenizerFixture>
{
    public const string Name = "Qwen2 tokenizer";
}
