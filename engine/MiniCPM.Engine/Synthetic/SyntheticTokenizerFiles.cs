using System.Text.Encodings.Web;
using System.Text.Json;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Synthetic;

/// <summary>Writes a <see cref="SyntheticVocabulary"/> the way real checkpoints carry a tokenizer: GGUF tokenizer.ggml.*
/// keys, or an HF tokenizer.json + tokenizer_config.json.</summary>
internal static class SyntheticTokenizerFiles
{
    /// <summary>
    /// Qwen2-Instruct's ChatML template (MiniCPM-V 2.6 ships the same shape): a default system prompt when the
    /// conversation has none, each message as &lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n, then the generation prompt.
    /// </summary>
    public const string ChatTemplate =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
        "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}" +
        "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static readonly JsonWriterOptions Json = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The tokenizer keys of llama.cpp's converter for Qwen2 (bos/eos come from the model config).</summary>
    public static IEnumerable<KeyValuePair<string, GgufValue>> GgufMetadata(SyntheticVocabulary vocab) =>
    [
        new("tokenizer.ggml.model", GgufValue.FromString("gpt2")),
        new("tokenizer.ggml.pre", GgufValue.FromString("qwen2")),
        new("tokenizer.ggml.tokens", GgufValue.FromArray(vocab.Tokens)),
        new("tokenizer.ggml.token_type", GgufValue.FromArray(vocab.TokenTypes)),
        new("tokenizer.ggml.merges", GgufValue.FromArray(vocab.Merges)),
        new("tokenizer.ggml.padding_token_id", GgufValue.FromUInt32((uint)vocab.EndOfText)),
        new("tokenizer.ggml.add_bos_token", GgufValue.FromBool(false)),
        new("tokenizer.chat_template", GgufValue.FromString(ChatTemplate)),
    ];

    /// <summary>
    /// tokenizer.json: the embedded Qwen2 file with its normalizer, pre-tokenizer, post-processor and decoder copied
    /// as they are, and the vocabulary, merges and added tokens replaced by the fitted ones.
    /// </summary>
    public static void WriteTokenizerJson(SyntheticVocabulary vocab, string path)
    {
        using var original = EmbeddedQwen2Tokenizer.OpenJson();
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, Json);
        json.WriteStartObject();
        foreach (var section in original.RootElement.EnumerateObject())
        {
            switch (section.Name)
            {
                case "added_tokens":
                    json.WriteStartArray(section.Name);
                    foreach (var (id, content) in vocab.AddedTokens)
                    {
                        json.WriteStartObject();
                        json.WriteNumber("id", id);
                        json.WriteString("content", content);
                        json.WriteBoolean("single_word", false);
                        json.WriteBoolean("lstrip", false);
                        json.WriteBoolean("rstrip", false);
                        json.WriteBoolean("normalized", false);
                        json.WriteBoolean("special", true);
                        json.WriteEndObject();
                    }
                    json.WriteEndArray();
                    break;
                case "model":
                    json.WriteStartObject(section.Name);
                    foreach (var p in section.Value.EnumerateObject())
                    {
                        if (p.Name == "vocab")
                        {
                            json.WriteStartObject("vocab");
                            for (int id = 0; id < vocab.RegularCount; id++) json.WriteNumber(vocab.Tokens[id], id);
                            json.WriteEndObject();
                        }
                        else if (p.Name == "merges")
                        {
                            json.WriteStartArray("merges");
                            foreach (var m in vocab.Merges)
                            {
                                int space = m.IndexOf(' ');
                                json.WriteStartArray();
                                json.WriteStringValue(m[..space]);
                                json.WriteStringValue(m[(space + 1)..]);
                                json.WriteEndArray();
                            }
                            json.WriteEndArray();
                        }
                        else p.WriteTo(json);
                    }
                    json.WriteEndObject();
                    break;
                default:
                    section.WriteTo(json);
                    break;
            }
        }
        json.WriteEndObject();
    }

    /// <summary>tokenizer_config.json with the added tokens, ChatML specials and chat template (as Qwen2-Instruct's).</summary>
    public static void WriteTokenizerConfig(SyntheticVocabulary vocab, string path)
    {
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, Json with { Indented = true });
        json.WriteStartObject();
        json.WriteBoolean("add_bos_token", false);
        json.WriteBoolean("add_prefix_space", false);
        json.WriteStartObject("added_tokens_decoder");
        foreach (var (id, content) in vocab.AddedTokens)
        {
            json.WriteStartObject(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("content", content);
            json.WriteBoolean("lstrip", false);
            json.WriteBoolean("normalized", false);
            json.WriteBoolean("rstrip", false);
            json.WriteBoolean("single_word", false);
            json.WriteBoolean("special", true);
            json.WriteEndObject();
        }
        json.WriteEndObject();
        json.WriteNull("bos_token");
        json.WriteString("chat_template", ChatTemplate);
        json.WriteBoolean("clean_up_tokenization_spaces", false);
        json.WriteString("eos_token", vocab.Tokens[vocab.ImEnd]);
        json.WriteString("errors", "replace");
        json.WriteNumber("model_max_length", 32768);
        json.WriteString("pad_token", vocab.Tokens[vocab.EndOfText]);
        json.WriteBoolean("split_special_tokens", false);
        json.WriteString("tokenizer_class", "Qwen2Tokenizer");
        json.WriteNull("unk_token");
        json.WriteEndObject();
    }
}
