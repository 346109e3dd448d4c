using System.IO.Compression;
using System.Text.Json;

namespace MiniCPM.Engine.Synthetic;

/// <summary>
/// The real Qwen2 byte-level BPE vocabulary, embedded in this assembly (a 2 MB gzip of tokenizer.json, linked from
/// tests/data/qwen2-tokenizer, MIT; see its README) so synthetic models get a real tokenizer on a fresh clone with no
/// download. Ids 0–151642 are the BPE tokens, merge i producing token 256 + i; 151643–151645 are the ChatML specials.
/// </summary>
internal static class EmbeddedQwen2Tokenizer
{
    public const string ResourceName = "MiniCPM.Engine.Synthetic.qwen2-tokenizer.json.gz";

    /// <summary>Regular (BPE) tokens in the vocabulary: ids 0 … 151642.</summary>
    public const int RegularTokens = 151643;

    private static readonly Lazy<Parts> Cached = new(Read);

    /// <summary>The vocabulary (index = id) and merges ("left right"), in byte-level text.</summary>
    public sealed record Parts(string[] Tokens, string[] Merges);

    public static Parts Load() => Cached.Value;

    /// <summary>The tokenizer.json document (for copying its normalizer, pre-tokenizer and decoder sections).</summary>
    public static JsonDocument OpenJson()
    {
        using var stream = typeof(EmbeddedQwen2Tokenizer).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"resource {ResourceName} is missing from the engine assembly");
        using var gzip = new GZipStream(stream, CompressionMode.Decompress);
        return JsonDocument.Parse(gzip);
    }

    private static Parts Read()
    {
        using var doc = OpenJson();
        var model = doc.RootElement.GetProperty("model");
        var tokens = new string[RegularTokens];
        foreach (var entry in model.GetProperty("vocab").EnumerateObject())
            tokens[entry.Value.GetInt32()] = entry.Name;
        if (tokens.Any(t => t is null)) throw new InvalidOperationException("the embedded vocabulary has holes");
        var merges = model.GetProperty("merges").EnumerateArray()
            .Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m[0].GetString() + " " + m[1].GetString())
            .ToArray();
        return new Parts(tokens, merges);
    }
}
