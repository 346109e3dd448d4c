using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Synthetic;

/// <summary>
/// The Qwen2 vocabulary fitted to a model's vocab size V, so every id the tokenizer can emit has an embedding row:
/// <list type="bullet">
/// <item>V ≥ 151646 (the 7B shapes): the real ids: BPE tokens 0–151642, &lt;|endoftext|&gt; 151643, &lt;|im_start|&gt;
/// 151644, &lt;|im_end|&gt; 151645; then MiniCPM-V 2.6's added tokens (&lt;image&gt;, &lt;/image&gt;, &lt;ref&gt;, …, in an
/// order chosen here; real ids are read from the tokenizer, never assumed) and reserved tokens up to id 151665, then
/// unused padding ids. Every token text is distinct.</item>
/// <item>V &lt; 151646 (tiny, 0.5b-shape): the first R BPE tokens, the merges whose parts and result are among them,
/// then (when V ≥ 512) the media tokens — MiniCPM-V's image tokens, &lt;unk&gt; (its Qwen2 id 128244 is cut away) and
/// MiniCPM-o's audio tokens — so image and audio prompts work on tiny models, and the three ChatML specials remapped
/// to V − 3, V − 2, V − 1. Because Qwen2's merge i creates token 256 + i, this is the BPE of the real vocabulary
/// stopped at a merge rank: text still round-trips through the byte tokens, and a text whose real ids are all below R
/// encodes to exactly those ids.</item>
/// <item>V ≥ 151700 (MiniCPM-o's size) also gets the audio tokens after the image tokens.</item>
/// </list>
/// </summary>
internal sealed class SyntheticVocabulary
{
    /// <summary>The smallest vocabulary: the 256 byte tokens and the three ChatML specials.</summary>
    public const int MinimumSize = 259;

    private const int RealSpecialsEnd = EmbeddedQwen2Tokenizer.RegularTokens + 3; // 151646

    /// <summary>
    /// MiniCPM-V 2.6's added token texts that are new to Qwen2's vocabulary; the rest of its 20 added ids are reserved
    /// here. Its &lt;unk&gt; is left out: Qwen2 already has it as BPE token 128244, and a token text may appear only once
    /// (llama.cpp asserts it), so it stays that regular token.
    /// </summary>
    private static readonly string[] MiniCpmVAddedTokens =
    [
        "<image>", "</image>", "<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>",
        "<point>", "</point>", "<slice>", "</slice>", "<image_id>", "</image_id>",
    ];

    /// <summary>MiniCPM-o 2.6's audio and speech tokens (the audio placeholders use the first two).</summary>
    private static readonly string[] MiniCpmOAudioTokens =
        ["<|audio_start|>", "<|audio_end|>", "<|spk_bos|>", "<|spk|>", "<|spk_eos|>", "<|tts_bos|>", "<|tts_eos|>"];

    /// <summary>A cut vocabulary at least this large carries the media tokens.</summary>
    private const int SmallestWithMedia = 512;

    /// <summary>MiniCPM-o 2.6's vocabulary size: from here on the audio tokens follow the image tokens.</summary>
    private const int SmallestWithAudio = 151700;

    /// <summary>Qwen2's "&lt;unk&gt;" BPE token (kept in a full vocabulary).</summary>
    private const int QwenUnknownId = 128244;

    private static string[] SmallMediaTokens => [.. MiniCpmVAddedTokens, "<unk>", .. MiniCpmOAudioTokens];

    private SyntheticVocabulary(int size, int regular, string[] tokens, int[] types, string[] merges)
    {
        Size = size;
        RegularCount = regular;
        Tokens = tokens;
        TokenTypes = types;
        Merges = merges;
        (EndOfText, ImStart, ImEnd) = SpecialIds(size);
    }

    public int Size { get; }

    /// <summary>BPE tokens kept: ids 0 … RegularCount − 1.</summary>
    public int RegularCount { get; }

    /// <summary>Token text per id: byte-level text for BPE tokens, plain text for added ones, "[PAD{id}]" for unused ids.</summary>
    public string[] Tokens { get; }

    /// <summary><see cref="GgufTokenType"/> per id, as GGUF's tokenizer.ggml.token_type stores it.</summary>
    public int[] TokenTypes { get; }

    /// <summary>Merges kept, "left right", in rank order.</summary>
    public string[] Merges { get; }

    public int EndOfText { get; }
    public int ImStart { get; }
    public int ImEnd { get; }

    /// <summary>The added tokens (all special), by id.</summary>
    public IEnumerable<(int Id, string Content)> AddedTokens =>
        Enumerable.Range(0, Size)
            .Where(id => TokenTypes[id] == (int)GgufTokenType.Control)
            .Select(id => (id, Tokens[id]));

    /// <summary>Where the ChatML specials sit for a vocabulary of <paramref name="size"/> ids (no tokenizer needed).</summary>
    public static (int EndOfText, int ImStart, int ImEnd) SpecialIds(int size)
    {
        if (size < MinimumSize) throw new ArgumentOutOfRangeException(nameof(size), size, $"a synthetic vocabulary needs at least {MinimumSize} ids");
        int first = size >= RealSpecialsEnd ? EmbeddedQwen2Tokenizer.RegularTokens : size - 3;
        return (first, first + 1, first + 2);
    }

    public static SyntheticVocabulary Build(int size)
    {
        var (endOfText, _, _) = SpecialIds(size);
        var real = EmbeddedQwen2Tokenizer.Load();
        bool cut = size < RealSpecialsEnd;
        string[] media = !cut ? [] : size >= SmallestWithMedia ? SmallMediaTokens : [];
        int regular = endOfText - media.Length; // the added tokens follow the last BPE token kept
        var tokens = new string[size];
        var types = new int[size];
        Array.Copy(real.Tokens, tokens, regular);
        Array.Fill(types, (int)GgufTokenType.Normal, 0, regular);

        string[] added = cut
            ? [.. media, "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
            : ["<|endoftext|>", "<|im_start|>", "<|im_end|>", .. MiniCpmVAddedTokens, .. size >= SmallestWithAudio ? MiniCpmOAudioTokens : []];
        // MiniCPM-V marks Qwen2's own "<unk>" BPE token special, so its image placeholders stay one id each.
        if (!cut) types[QwenUnknownId] = (int)GgufTokenType.Control;
        int id = regular;
        foreach (var special in added)
        {
            if (id == size) break;
            tokens[id] = special;
            types[id++] = (int)GgufTokenType.Control;
        }
        for (int reserved = 0; id < size && id < RealSpecialsEnd + 20; reserved++)
        {
            tokens[id] = $"<reserved_{reserved}>";
            types[id++] = (int)GgufTokenType.Control;
        }
        for (; id < size; id++)
        {
            tokens[id] = $"[PAD{id}]"; // what llama.cpp's converter writes for ids without a token
            types[id] = (int)GgufTokenType.Unused;
        }

        var kept = new HashSet<string>(tokens.Take(regular), StringComparer.Ordinal);
        var merges = real.Merges.Where(m =>
        {
            int space = m.IndexOf(' ');
            string left = m[..space], right = m[(space + 1)..];
            return kept.Contains(left) && kept.Contains(right) && kept.Contains(left + right);
        }).ToArray();
        return new SyntheticVocabulary(size, regular, tokens, types, merges);
    }

    public Qwen2Tokenizer ToTokenizer() => Qwen2Tokenizer.FromParts(Tokens, Merges, TokenTypes, $"synthetic vocabulary of {Size}");
}
