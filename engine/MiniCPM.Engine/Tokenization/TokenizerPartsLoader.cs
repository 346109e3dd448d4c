using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Builds a <see cref="Qwen2Tokenizer"/> from token list, merges and token types, the way GGUF stores them
/// (<c>tokenizer.ggml.tokens</c>, <c>.merges</c>, <c>.token_type</c>), so a GGUF reader needs no tokenizer code.
/// </summary>
internal static class TokenizerPartsLoader
{
    public static Qwen2Tokenizer Load(IReadOnlyList<string> tokens, IReadOnlyList<string> merges,
        IReadOnlyList<int>? tokenTypes, string source)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(merges);
        if (tokenTypes is not null && tokenTypes.Count != tokens.Count)
            throw new ModelFormatException(source,
                $"{tokenTypes.Count} token types for {tokens.Count} tokens", "tokenizer.ggml.token_type");

        var vocab = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        var added = new List<AddedToken>();
        for (var id = 0; id < tokens.Count; id++)
        {
            var type = tokenTypes is null ? GgufTokenType.Normal : (GgufTokenType)tokenTypes[id];
            var text = tokens[id];
            if (string.IsNullOrEmpty(text) && type != GgufTokenType.Unused)
                throw new ModelFormatException(source, $"token {id} is empty", "tokenizer.ggml.tokens");
            switch (type)
            {
                case GgufTokenType.Normal or GgufTokenType.Byte:
                    vocab.TryAdd(text, id); // a duplicate keeps the first id, like a JSON vocab read in order
                    break;
                case GgufTokenType.Control or GgufTokenType.Unknown:
                    added.Add(new AddedToken(id, text, IsSpecial: true));
                    break;
                case GgufTokenType.UserDefined:
                    added.Add(new AddedToken(id, text, IsSpecial: false));
                    break;
                case GgufTokenType.Unused:
                    break; // a hole: the id exists in the model but has no token
                default:
                    throw new ModelFormatException(source, $"token {id} has unknown type {(int)type}",
                        "tokenizer.ggml.token_type");
            }
        }

        for (var i = 0; i < merges.Count; i++)
        {
            var m = merges[i];
            var space = m?.IndexOf(' ') ?? -1;
            if (m is null || space <= 0 || space == m.Length - 1 || m.IndexOf(' ', space + 1) >= 0)
                throw new ModelFormatException(source, $"merge {i} '{m}' is not two tokens separated by a space",
                    "tokenizer.ggml.merges");
        }

        // A special token may also be a BPE token: MiniCPM-V marks Qwen2's "<unk>" (128244, the result of the merge
        // "<unk" + ">") special. It stays in the BPE vocabulary too, as in the HF tokenizer.json, or the merges break.
        var mergeResults = new HashSet<string>(merges.Select(m => m.Replace(" ", "", StringComparison.Ordinal)), StringComparer.Ordinal);
        foreach (var token in added)
            if (mergeResults.Contains(token.Content)) vocab.TryAdd(token.Content, token.Id);

        return new Qwen2Tokenizer(vocab, merges, added, normalizeNfc: true, source);
    }
}
