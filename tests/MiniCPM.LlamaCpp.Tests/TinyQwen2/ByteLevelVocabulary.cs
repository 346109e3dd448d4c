namespace MiniCPM.LlamaCpp.Tests.TinyQwen2;

/// <summary>
/// A tiny GPT-2 style byte-level BPE vocabulary, stored the way llama.cpp's converter stores Qwen2's: every byte
/// as one token spelled with GPT-2's byte-to-unicode mapping, the tokens made by a few ranked merges, then the
/// chat control tokens. Token ids are the index in <see cref="Tokens"/>.
/// </summary>
internal sealed class ByteLevelVocabulary
{
    // token_type values of llama.cpp's vocabulary (gguf's TokenType enum).
    public const int NormalTokenType = 1;
    public const int ControlTokenType = 3;

    public const string EndOfText = "<|endoftext|>";
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";

    /// <summary>Ranked merges, best first, each as "left right" (both sides already byte-mapped).</summary>
    public static readonly string[] MergeRules =
    [
        "Ġ t",
        "h e",
        "Ġt he",
        "i n",
        "Ġ a",
        "e r",
    ];

    public string[] Tokens { get; }
    public int[] TokenTypes { get; }
    public string[] Merges => MergeRules;

    public int EndOfTextId { get; }
    public int ImStartId { get; }
    public int ImEndId { get; }

    public int Count => Tokens.Length;

    public ByteLevelVocabulary()
    {
        var tokens = new List<string>();
        for (int b = 0; b < 256; b++) tokens.Add(ByteToUnicode((byte)b).ToString());
        foreach (var merge in MergeRules) tokens.Add(merge.Replace(" ", ""));
        int normalCount = tokens.Count;
        tokens.AddRange([EndOfText, ImStart, ImEnd]);

        Tokens = tokens.ToArray();
        TokenTypes = Enumerable.Range(0, Tokens.Length).Select(i => i < normalCount ? NormalTokenType : ControlTokenType).ToArray();
        EndOfTextId = Array.IndexOf(Tokens, EndOfText);
        ImStartId = Array.IndexOf(Tokens, ImStart);
        ImEndId = Array.IndexOf(Tokens, ImEnd);
    }

    public int IdOf(string token)
    {
        int id = Array.IndexOf(Tokens, token);
        if (id < 0) throw new ArgumentException($"'{token}' is not in the vocabulary", nameof(token));
        return id;
    }

    /// <summary>
    /// GPT-2's bytes_to_unicode: the printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves;
    /// the other 68 bytes, in increasing order, take the code points 256, 257, ... so that no token holds a space
    /// or control character (a space becomes 'Ġ' = U+0120, a newline 'Ċ' = U+010A).
    /// </summary>
    public static char ByteToUnicode(byte b)
    {
        if (IsPrintable(b)) return (char)b;
        int shifted = 0;
        for (int other = 0; other < b; other++)
            if (!IsPrintable((byte)other)) shifted++;
        return (char)(256 + shifted);
    }

    private static bool IsPrintable(byte b) => b is >= (byte)'!' and <= (byte)'~' or >= 0xA1 and <= 0xAC or >= 0xAE;
}
