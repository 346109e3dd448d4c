using System.Text;
using Microsoft.ML.Tokenizers;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Qwen2's byte-level BPE tokenizer (used by MiniCPM-V 2.6 and MiniCPM-o 2.6), with Hugging Face semantics:
/// added tokens are cut out of the raw text first; each stretch of plain text is NFC-normalized, split by
/// <see cref="Qwen2PreTokenizer"/>, mapped to <see cref="ByteLevelAlphabet"/> and merged by BPE (Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/>, which reproduces Hugging Face's merge order). No BOS/EOS is added.
/// Instances are immutable after construction (thread safety rests on BpeTokenizer's cache; not verified here).
/// </summary>
public sealed class Qwen2Tokenizer
{
    private readonly BpeTokenizer _bpe;
    private readonly IReadOnlyDictionary<string, int> _vocab;        // regular tokens, byte-level text → id
    private readonly string?[] _idToToken;                            // byte-level text or added-token content
    private readonly byte[]?[] _idToBytes;                            // what each id decodes to
    private readonly Dictionary<string, AddedToken> _addedByContent;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly AddedTokenMatcher _matcher;
    private readonly bool _normalizeNfc;

    /// <summary>
    /// Builds a tokenizer from its parts. <paramref name="vocabulary"/> and <paramref name="merges"/> are in byte-level
    /// text ("Ġthe", merges as "Ġ t"); added tokens are plain text. <paramref name="source"/> names the origin in errors.
    /// </summary>
    internal Qwen2Tokenizer(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyList<string> merges,
        IEnumerable<AddedToken> addedTokens, bool normalizeNfc, string source)
    {
        _vocab = vocabulary;
        _normalizeNfc = normalizeNfc;
        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(vocabulary)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = Qwen2PreTokenizer.Instance,
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new ModelFormatException(source, "invalid BPE vocabulary or merges: " + e.Message, inner: e);
        }

        (_addedByContent, _addedById) = IndexAddedTokens(addedTokens, source);
        _matcher = new AddedTokenMatcher(_addedById.Values);
        (_idToToken, _idToBytes) = BuildIdTables(vocabulary, _addedById);
        VocabularySize = _idToToken.Length;
        Specials = SpecialTokenIds.Find(this);
    }

    /// <summary>Same BPE model, different added tokens (for <see cref="WithSpecialTokens"/>).</summary>
    private Qwen2Tokenizer(Qwen2Tokenizer basis, IEnumerable<AddedToken> addedTokens)
    {
        _bpe = basis._bpe;
        _vocab = basis._vocab;
        _normalizeNfc = basis._normalizeNfc;
        (_addedByContent, _addedById) = IndexAddedTokens(addedTokens, "added tokens");
        _matcher = new AddedTokenMatcher(_addedById.Values);
        (_idToToken, _idToBytes) = BuildIdTables(_vocab, _addedById);
        VocabularySize = _idToToken.Length;
        Specials = SpecialTokenIds.Find(this);
    }

    /// <summary>Loads from a Hugging Face tokenizer.json (or .json.gz), or a folder with tokenizer.json or
    /// vocab.json + merges.txt, plus tokenizer_config.json / added_tokens.json / special_tokens_map.json beside it.</summary>
    public static Qwen2Tokenizer FromHuggingFace(string path) => HuggingFaceTokenizerLoader.Load(path);

    /// <summary>
    /// Builds from the parts a GGUF file stores: <c>tokenizer.ggml.tokens</c> (index = id; byte-level text for normal
    /// tokens, plain text for control and user-defined ones), <c>tokenizer.ggml.merges</c> ("left right") and
    /// <c>tokenizer.ggml.token_type</c> (see <see cref="GgufTokenType"/>; null means all normal).
    /// </summary>
    public static Qwen2Tokenizer FromParts(IReadOnlyList<string> tokens, IReadOnlyList<string> merges,
        IReadOnlyList<int>? tokenTypes, string source = "tokenizer parts") =>
        TokenizerPartsLoader.Load(tokens, merges, tokenTypes, source);

    /// <summary>Number of ids: one more than the highest id that has a token.</summary>
    public int VocabularySize { get; }

    /// <summary>Ids of the tokens the chat template and MiniCPM's image layout use (null where absent).</summary>
    public SpecialTokenIds Specials { get; }

    /// <summary>All added tokens, by id.</summary>
    public IReadOnlyList<AddedToken> AddedTokens => _addedById.Values.OrderBy(t => t.Id).ToList();

    /// <summary>Encodes text, parsing special tokens written in it (Hugging Face's default).</summary>
    public int[] Encode(string text) => Encode(text, allowSpecial: true);

    /// <summary>
    /// Encodes text. With <paramref name="allowSpecial"/> false, special tokens written in the text are tokenized as
    /// ordinary text (use it for untrusted user input); non-special added tokens are still matched whole.
    /// </summary>
    public int[] Encode(string text, bool allowSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        foreach (var segment in _matcher.Split(text, allowSpecial))
        {
            if (segment.Token is not null)
            {
                ids.Add(segment.Token.Id);
                continue;
            }
            var plain = text.Substring(segment.Start, segment.Length);
            if (_normalizeNfc) plain = UnicodeNfc.Normalize(plain);
            ids.AddRange(_bpe.EncodeToIds(plain, considerPreTokenization: true, considerNormalization: false));
        }
        return ids.ToArray();
    }

    /// <summary>Decodes ids to text; invalid UTF-8 (e.g. a cut-off character) becomes U+FFFD.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside the vocabulary or without a token.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if (skipSpecialTokens && IsSpecial(id)) continue;
            bytes.AddRange(GetTokenBytes(id));
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>The bytes <paramref name="id"/> stands for: UTF-8 of an added token's content, or the bytes behind a
    /// regular token's byte-level text (possibly part of a character).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside the vocabulary or without a token.</exception>
    public ReadOnlySpan<byte> GetTokenBytes(int id) => _idToBytes[CheckId(id)]!;

    /// <summary>The id of a token written as in the vocabulary (byte-level text for regular tokens, plain text for
    /// added ones), or null.</summary>
    public int? TokenToId(string token)
    {
        if (_addedByContent.TryGetValue(token, out var added)) return added.Id;
        return _vocab.TryGetValue(token, out var id) ? id : null;
    }

    /// <summary>The token of <paramref name="id"/> as written in the vocabulary.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside the vocabulary or without a token.</exception>
    public string IdToToken(int id) => _idToToken[CheckId(id)]!;

    /// <summary>Whether <paramref name="id"/> is a special added token (e.g. &lt;|im_end|&gt;).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var t) && t.IsSpecial;

    /// <summary>
    /// A tokenizer with extra special tokens on top (e.g. MiniCPM-V's &lt;image&gt; on a plain Qwen2 vocabulary).
    /// New texts get the next free ids in the order given. As in Hugging Face's <c>add_special_tokens</c>, a text
    /// that is already a regular BPE token keeps its id but becomes special (matched whole before BPE); an existing
    /// added token is left as it is.
    /// </summary>
    public Qwen2Tokenizer WithSpecialTokens(IEnumerable<string> contents)
    {
        var added = new List<AddedToken>(_addedById.Values);
        var next = VocabularySize;
        foreach (var content in contents)
        {
            ArgumentException.ThrowIfNullOrEmpty(content);
            if (added.Any(t => t.Content == content)) continue;
            var id = _vocab.TryGetValue(content, out var regularId) ? regularId : next++;
            added.Add(new AddedToken(id, content, IsSpecial: true));
        }
        return new Qwen2Tokenizer(this, added);
    }

    private int CheckId(int id)
    {
        if ((uint)id >= (uint)_idToToken.Length || _idToToken[id] is null)
            throw new ArgumentOutOfRangeException(nameof(id), id,
                $"Token id {id} is not in the vocabulary (size {_idToToken.Length}).");
        return id;
    }

    private static (Dictionary<string, AddedToken>, Dictionary<int, AddedToken>) IndexAddedTokens(
        IEnumerable<AddedToken> tokens, string source)
    {
        var byContent = new Dictionary<string, AddedToken>(StringComparer.Ordinal);
        var byId = new Dictionary<int, AddedToken>();
        foreach (var t in tokens)
        {
            if (t.Id < 0 || string.IsNullOrEmpty(t.Content))
                throw new ModelFormatException(source, $"added token {t.Id} '{t.Content}' is invalid");
            if (!byId.TryAdd(t.Id, t) && byId[t.Id].Content != t.Content)
                throw new ModelFormatException(source,
                    $"added token id {t.Id} is given to both '{byId[t.Id].Content}' and '{t.Content}'");
            byContent.TryAdd(t.Content, t);
        }
        return (byContent, byId);
    }

    private static (string?[], byte[]?[]) BuildIdTables(IReadOnlyDictionary<string, int> vocab,
        Dictionary<int, AddedToken> added)
    {
        var size = 0;
        foreach (var id in vocab.Values) size = Math.Max(size, id + 1);
        foreach (var id in added.Keys) size = Math.Max(size, id + 1);

        var tokens = new string?[size];
        var bytes = new byte[]?[size];
        foreach (var (text, id) in vocab)
        {
            tokens[id] = text;
            bytes[id] = ByteLevelAlphabet.Decode(text);
        }
        // An added token that shares an id with a regular one wins, as in Hugging Face's added vocabulary.
        foreach (var (id, t) in added)
        {
            tokens[id] = t.Content;
            bytes[id] = Encoding.UTF8.GetBytes(t.Content);
        }
        return (tokens, bytes);
    }
}
