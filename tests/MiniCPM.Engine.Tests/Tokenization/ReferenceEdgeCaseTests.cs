namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>
/// Cases beyond llama.cpp's 43 that exercise NFC, astral letters/digits, case-insensitive contractions, Unicode
/// whitespace and added tokens. Expected ids were produced by an independent implementation, transformers.js
/// (npm @lenml/tokenizers 3.7.2, <c>encode(text, {add_special_tokens: false})</c>) on the same tokenizer.json and
/// tokenizer_config.json; it passes the 43 cases too.
/// </summary>
[Collection(Qwen2TokenizerCollection.Name)]
public sealed class ReferenceEdgeCaseTests(Qwen2TokenizerFixture fixture)
{
    public static TheoryData<string, int[]> Cases() => new()
    {
        // Astral letters and digits: a UTF-16 regex would split these differently.
        { "a\U0001D7CE\U0001D7CF", [64, 56252, 253, 236, 56252, 253, 237] },
        { "abc\U00010330\U00010331 x", [13683, 151247, 124594, 109, 856] },
        { "\U00010330\n\nb", [151247, 271, 65] },
        { "Ωmega\U0001D6C0 ok", [144572, 42510, 125419, 222, 5394] },
        // …and here the ids differ too: Microsoft.ML.Tokenizers' RegexPreTokenizer with the same pattern gives
        // 151247 13 64 0 / 81250 253 236 1782 287 / 172 63219 222 13 64 0 / 64 146527 147822 13 64.
        { "\U00010330.a!", [151247, 5849, 0] },
        { " \U0001D7CEtheing", [220, 56252, 253, 236, 1782, 287] },
        { "\U00020000.a!", [172, 63219, 222, 5849, 0] },
        { "a\U0001D400\U0001D401.a", [64, 146527, 147822, 5849] },
        // NFC: composed/decomposed/singleton (Angstrom sign) all become U+00E9 / U+00C5.
        { "e\u0301t\u00e9 A\u030a \u212b", [38783, 79252, 79252] },
        // NFC: Hangul jamo compose algorithmically.
        { "\u1100\u1161\u11a8 한국어", [126317, 130092, 31079] },
        // NFC: marks reordered by combining class give the same ids in either order.
        { "a\u0307\u0323 a\u0323\u0307", [20229, 136, 229, 220, 20229, 136, 229] },
        // NFC: U+0958 is a composition exclusion; it stays decomposed.
        { "\u0958 \u0915\u093c", [64704, 5502, 120, 47809, 5502, 120] },
        { "I'M FINE, YOU'RE 'LL", [40, 27603, 434, 3981, 11, 14985, 94153, 364, 4086] },
        { "abc\r\n\r\ndef  \n  ghi", [13683, 871, 750, 2303, 220, 342, 6023] },
        { "\u00a0x\u3000y\u2028z", [4102, 87, 22441, 88, 378, 101, 89] },
        { "1٢३", [16, 149, 95, 12619, 102] },
        { "don't \u2019s", [15007, 944, 17744, 82] },
        { "a<|im_start|>b<|im_end|>\n", [64, 151644, 65, 151645, 198] },
        { "<think>x</think>", [151667, 87, 151668] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTransformersJs(string text, int[] expected)
    {
        Assert.Equal(expected, fixture.FromJson.Encode(text));
        Assert.Equal(expected, fixture.FromParts.Encode(text));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodesToTheNfcFormOfTheInput(string text, int[] expected)
    {
        // Decoding cannot undo NFC, so the round trip is checked against the NFC form of the input, written out by
        // hand from the Unicode code charts for the few cases above that change under NFC.
        var decoded = fixture.FromJson.Decode(expected);
        var nfcByHand = text
            .Replace("e\u0301", "\u00e9").Replace("A\u030a", "\u00c5").Replace("\u212b", "\u00c5")
            .Replace("\u1100\u1161\u11a8", "\uac01")
            .Replace("a\u0307\u0323", "\u1ea1\u0307").Replace("a\u0323\u0307", "\u1ea1\u0307")
            .Replace("\u0958", "\u0915\u093c");
        Assert.Equal(nfcByHand, decoded);
    }
}
