namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// GPT-2's byte-level alphabet: every byte value 0–255 is shown as one printable character, so that BPE vocabularies
/// can be stored as text. Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68
/// bytes are given the characters U+0100, U+0101, … in byte order (so a space, 0x20, is 'Ġ' U+0120).
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 0x100;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    /// <summary>The character that stands for <paramref name="value"/>.</summary>
    public static char ToChar(byte value) => ByteToChar[value];

    /// <summary>Maps UTF-8 bytes to their byte-level text (the form of the tokens in tokenizer.json and GGUF).</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>
    /// Maps byte-level text back to bytes. A character outside the alphabet (only in a malformed vocabulary) is kept
    /// as its own UTF-8 bytes, as Hugging Face's ByteLevel decoder does.
    /// </summary>
    public static byte[] Decode(string byteLevelText)
    {
        var bytes = new List<byte>(byteLevelText.Length);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in byteLevelText.EnumerateRunes())
        {
            if (rune.IsBmp && CharToByte.TryGetValue((char)rune.Value, out var b))
            {
                bytes.Add(b);
                continue;
            }
            var n = rune.EncodeToUtf8(utf8);
            for (var i = 0; i < n; i++) bytes.Add(utf8[i]);
        }
        return bytes.ToArray();
    }
}
