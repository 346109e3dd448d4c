using System.IO.Compression;
using System.Text.Json;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Reads a Hugging Face tokenizer: tokenizer.json (fast tokenizer; gzip accepted) or vocab.json + merges.txt (slow
/// Qwen2Tokenizer), plus the added/special tokens listed in tokenizer_config.json, added_tokens.json and
/// special_tokens_map.json beside it. Only Qwen2's pipeline is accepted (BPE, NFC, Qwen2 split regex, ByteLevel);
/// anything else is refused rather than tokenized differently from the reference.
/// </summary>
internal static class HuggingFaceTokenizerLoader
{
    private const string TokenizerJson = "tokenizer.json";

    public static Qwen2Tokenizer Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string folder;
        Dictionary<string, int> vocab;
        List<string> merges;
        List<AddedToken> added;
        bool nfc;

        if (Directory.Exists(path))
        {
            folder = path;
            var json = Path.Combine(folder, TokenizerJson);
            if (File.Exists(json)) (vocab, merges, added, nfc) = ReadTokenizerJson(json);
            else if (File.Exists(Path.Combine(folder, "vocab.json")) && File.Exists(Path.Combine(folder, "merges.txt")))
                (vocab, merges, added, nfc) = ReadVocabAndMerges(folder);
            else throw new ModelFormatException(json, "no tokenizer.json (or vocab.json + merges.txt) in the folder");
        }
        else
        {
            if (!File.Exists(path)) throw new ModelFormatException(path, "tokenizer file not found");
            folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            (vocab, merges, added, nfc) = ReadTokenizerJson(path);
        }

        AddSiblingTokens(folder, added);
        return new Qwen2Tokenizer(vocab, merges, added, nfc, path);
    }

    private static (Dictionary<string, int>, List<string>, List<AddedToken>, bool) ReadTokenizerJson(string path)
    {
        using var doc = ParseJson(path);
        var root = doc.RootElement;
        var model = Property(root, "model", JsonValueKind.Object, path);
        if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
            throw new ModelFormatException(path, $"model type '{type}' is not BPE");
        if (IsTrue(model, "ignore_merges") || IsTrue(model, "byte_fallback")
            || NonEmptyString(model, "continuing_subword_prefix") || NonEmptyString(model, "end_of_word_suffix"))
            throw new ModelFormatException(path, "BPE options other than Qwen2's (ignore_merges, byte_fallback, " +
                "subword prefix/suffix) are not supported");

        var vocab = ReadVocab(Property(model, "vocab", JsonValueKind.Object, path), path);
        var merges = new List<string>();
        foreach (var m in Property(model, "merges", JsonValueKind.Array, path).EnumerateArray())
            merges.Add(ReadMerge(m, merges.Count, path));

        var nfc = ReadNormalizer(root, path);
        CheckPreTokenizer(root, path);

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var list) && list.ValueKind == JsonValueKind.Array)
            foreach (var t in list.EnumerateArray())
                added.Add(ReadAddedToken(t, Int(t, "id", path), path));
        return (vocab, merges, added, nfc);
    }

    private static (Dictionary<string, int>, List<string>, List<AddedToken>, bool) ReadVocabAndMerges(string folder)
    {
        var vocabPath = Path.Combine(folder, "vocab.json");
        using var doc = ParseJson(vocabPath);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(vocabPath, "expected a JSON object of token → id");
        var vocab = ReadVocab(doc.RootElement, vocabPath);

        var mergesPath = Path.Combine(folder, "merges.txt");
        var merges = new List<string>();
        foreach (var line in File.ReadLines(mergesPath))
        {
            if (line.StartsWith("#version", StringComparison.Ordinal) || line.Length == 0) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new ModelFormatException(mergesPath, $"merge {merges.Count} '{line}' is not two tokens");
            merges.Add(line);
        }
        return (vocab, merges, [], true); // the slow Qwen2Tokenizer always applies NFC
    }

    /// <summary>Adds the tokens of tokenizer_config.json, added_tokens.json and special_tokens_map.json that the
    /// main file lacks. A token is special when a config says so or names it as a special token.</summary>
    private static void AddSiblingTokens(string folder, List<AddedToken> added)
    {
        var specialNames = new HashSet<string>(StringComparer.Ordinal);
        var configPath = Path.Combine(folder, "tokenizer_config.json");
        if (File.Exists(configPath))
        {
            using var config = ParseJson(configPath);
            CollectSpecialNames(config.RootElement, specialNames);
            if (config.RootElement.TryGetProperty("added_tokens_decoder", out var decoder)
                && decoder.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in decoder.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, out var id))
                        throw new ModelFormatException(configPath, $"added_tokens_decoder key '{entry.Name}' is not an id");
                    AddIfNew(added, ReadAddedToken(entry.Value, id, configPath));
                }
            }
        }

        var mapPath = Path.Combine(folder, "special_tokens_map.json");
        if (File.Exists(mapPath))
        {
            using var map = ParseJson(mapPath);
            CollectSpecialNames(map.RootElement, specialNames);
        }

        var addedPath = Path.Combine(folder, "added_tokens.json");
        if (File.Exists(addedPath))
        {
            using var doc = ParseJson(addedPath);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(addedPath, "expected a JSON object of token → id");
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!p.Value.TryGetInt32(out var id) || id < 0)
                    throw new ModelFormatException(addedPath, $"token '{p.Name}' has no valid id");
                AddIfNew(added, new AddedToken(id, p.Name, specialNames.Contains(p.Name)));
            }
        }
    }

    private static void AddIfNew(List<AddedToken> added, AddedToken token)
    {
        if (!added.Any(t => t.Id == token.Id)) added.Add(token);
    }

    /// <summary>bos/eos/unk/pad/… tokens and additional_special_tokens, as strings or {"content": …} objects.</summary>
    private static void CollectSpecialNames(JsonElement config, HashSet<string> names)
    {
        if (config.ValueKind != JsonValueKind.Object) return;
        foreach (var p in config.EnumerateObject())
        {
            if (p.Name.EndsWith("_token", StringComparison.Ordinal)) AddName(p.Value, names);
            else if (p.Name == "additional_special_tokens" && p.Value.ValueKind == JsonValueKind.Array)
                foreach (var item in p.Value.EnumerateArray()) AddName(item, names);
        }

        static void AddName(JsonElement e, HashSet<string> names)
        {
            if (e.ValueKind == JsonValueKind.String) names.Add(e.GetString()!);
            else if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out var c)
                     && c.ValueKind == JsonValueKind.String) names.Add(c.GetString()!);
        }
    }

    private static bool ReadNormalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return false;
        var steps = Steps(n, "normalizers", path);
        var nfc = false;
        foreach (var step in steps)
        {
            var name = step.TryGetProperty("type", out var st) ? st.GetString() : null;
            if (name == "NFC") nfc = true;
            else throw new ModelFormatException(path, $"normalizer '{name}' is not supported (Qwen2 uses NFC only)");
        }
        return nfc;
    }

    /// <summary>Accepts exactly Qwen2's pre-tokenizer: Split(Qwen2 regex, Isolated) then ByteLevel without regex.</summary>
    private static void CheckPreTokenizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var p) || p.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(path, "no pre_tokenizer (expected Qwen2's Split + ByteLevel)");
        var steps = Steps(p, "pretokenizers", path);
        var sawSplit = false;
        var sawByteLevel = false;
        foreach (var step in steps)
        {
            var type = step.TryGetProperty("type", out var st) ? st.GetString() : null;
            if (type == "Split"
                && step.TryGetProperty("pattern", out var pattern) && pattern.ValueKind == JsonValueKind.Object
                && pattern.TryGetProperty("Regex", out var regex) && regex.GetString() == Qwen2PreTokenizer.Pattern
                && step.TryGetProperty("behavior", out var behavior) && behavior.GetString() == "Isolated"
                && !IsTrue(step, "invert"))
                sawSplit = true;
            else if (type == "ByteLevel" && !IsTrue(step, "use_regex") && !IsTrue(step, "add_prefix_space"))
                sawByteLevel = true;
            else
                throw new ModelFormatException(path,
                    $"pre-tokenizer step {step.GetRawText()} is not Qwen2's (Split with its regex, then ByteLevel)");
        }
        if (!sawSplit || !sawByteLevel)
            throw new ModelFormatException(path, "pre_tokenizer lacks Qwen2's Split regex or its ByteLevel step");
    }

    /// <summary>The steps of a "Sequence" normalizer/pre-tokenizer, or the element itself.</summary>
    private static List<JsonElement> Steps(JsonElement e, string listName, string path)
    {
        if (!e.TryGetProperty("type", out var t) || t.GetString() != "Sequence") return [e];
        return Property(e, listName, JsonValueKind.Array, path).EnumerateArray().ToList();
    }

    private static Dictionary<string, int> ReadVocab(JsonElement vocabObject, string path)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabObject.EnumerateObject())
        {
            if (!entry.Value.TryGetInt32(out var id) || id < 0)
                throw new ModelFormatException(path, $"vocabulary entry '{entry.Name}' has no valid id");
            vocab[entry.Name] = id;
        }
        if (vocab.Count == 0) throw new ModelFormatException(path, "the vocabulary is empty");
        return vocab;
    }

    /// <summary>A merge is "left right" (older files) or ["left", "right"] (newer files).</summary>
    private static string ReadMerge(JsonElement m, int index, string path)
    {
        string? left = null, right = null;
        if (m.ValueKind == JsonValueKind.String)
        {
            var parts = m.GetString()!.Split(' ');
            if (parts.Length == 2) (left, right) = (parts[0], parts[1]);
        }
        else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            (left, right) = (m[0].GetString(), m[1].GetString());

        // Byte-level tokens never contain a space, which lets "left right" be split unambiguously.
        if (string.IsNullOrEmpty(left) || string.IsNullOrEmpty(right) || left.Contains(' ') || right.Contains(' '))
            throw new ModelFormatException(path, $"merge {index} ({m.GetRawText()}) is not a pair of tokens");
        return left + " " + right;
    }

    private static AddedToken ReadAddedToken(JsonElement t, int id, string path)
    {
        if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("content", out var c)
            || c.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(c.GetString()) || id < 0)
            throw new ModelFormatException(path, $"added token {id} has no content");
        return new AddedToken(id, c.GetString()!, IsTrue(t, "special"), IsTrue(t, "lstrip"), IsTrue(t, "rstrip"));
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B) bytes = Gunzip(bytes);
            return JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, "not valid JSON: " + e.Message, inner: e);
        }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException(path, "corrupt gzip data: " + e.Message, inner: e);
        }
        catch (IOException e)
        {
            throw new ModelFormatException(path, "cannot read: " + e.Message, inner: e);
        }
    }

    private static byte[] Gunzip(byte[] compressed)
    {
        using var input = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    private static JsonElement Property(JsonElement e, string name, JsonValueKind kind, string path)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v) || v.ValueKind != kind)
            throw new ModelFormatException(path, $"missing or malformed '{name}' (expected {kind})");
        return v;
    }

    private static int Int(JsonElement e, string name, string path)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var v) || !v.TryGetInt32(out var i))
            throw new ModelFormatException(path, $"missing or malformed integer '{name}'");
        return i;
    }

    private static bool IsTrue(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    private static bool NonEmptyString(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0;
}
