using System.Text;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>Incremental detokenization: same total as Decode, never half a character mid-stream.</summary>
[Collection(Qwen2TokenizerCollection.Name)]
public sealed class StreamingDecoderTests(Qwen2TokenizerFixture fixture)
{
    private Qwen2Tokenizer Tok => fixture.FromJson;

    private static readonly string[] SampleTexts =
    [
        "我想在apple工作1314151天～",
        "🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅",
        "កាន់តែពិសេសអាចខលចេញ",
        "нещо на Български 𐌰𐌱 \U0001D7CE",
        "<|im_start|>assistant\n你好！🦙<|im_end|>",
        " this is 🦙.cpp", // 🦙 is three tokens here (ids 11162 99 247 in vocab-test.out)
    ];

    public static TheoryData<string> Texts() => new(SampleTexts);

    [Theory]
    [MemberData(nameof(Texts))]
    public void TotalEqualsDecodeAndNoReplacementCharacterAppears(string text)
    {
        var ids = Tok.Encode(text);
        var decoder = new StreamingDecoder(Tok);
        var pieces = ids.Select(decoder.Push).ToList();
        pieces.Add(decoder.Flush());

        Assert.Equal(Tok.Decode(ids), string.Concat(pieces));
        Assert.Equal(text, string.Concat(pieces));
        Assert.All(pieces, p => Assert.DoesNotContain('\uFFFD', p));
        Assert.All(pieces, p => Assert.True(p.Length == 0 || !char.IsHighSurrogate(p[^1]), "split surrogate pair"));
    }

    [Fact]
    public void TheTestTextsReallySplitCharactersAcrossTokens()
    {
        // Guards the test above: most texts must have a token that is an incomplete UTF-8 sequence on its own
        // (CJK text is often whole-character tokens; emoji, Khmer and astral letters are not).
        var withSplits = SampleTexts.Count(text =>
            Tok.Encode(text).Any(id => !IsCompleteUtf8(Tok.GetTokenBytes(id).ToArray())));
        Assert.True(withSplits >= 4, $"only {withSplits} texts split a character across tokens");
    }

    [Fact]
    public void HoldsBackTheFirstBytesOfAnEmojiUntilItIsComplete()
    {
        // 🦙 is F0 9F A6 99: feed it one byte-token at a time, built from the byte-level alphabet.
        var bytes = Encoding.UTF8.GetBytes("🦙");
        var ids = bytes.Select(b => Tok.TokenToId(ByteLevelAlphabet.ToChar(b).ToString())!.Value).ToArray();
        var decoder = new StreamingDecoder(Tok);
        Assert.Equal("", decoder.Push(ids[0]));
        Assert.Equal("", decoder.Push(ids[1]));
        Assert.Equal("", decoder.Push(ids[2]));
        Assert.Equal("🦙", decoder.Push(ids[3]));
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void FlushReplacesAnUnfinishedCharacterLikeDecodeDoes()
    {
        var ids = Encoding.UTF8.GetBytes("🦙")[..2]
            .Select(b => Tok.TokenToId(ByteLevelAlphabet.ToChar(b).ToString())!.Value).ToArray();
        var decoder = new StreamingDecoder(Tok);
        var streamed = string.Concat(ids.Select(decoder.Push)) + decoder.Flush();
        Assert.Equal(Tok.Decode(ids), streamed);
        Assert.Equal("\uFFFD", streamed);
    }

    [Fact]
    public void SkipsSpecialsWhenAsked()
    {
        var ids = Tok.Encode("<|im_start|>hé<|im_end|>");
        var decoder = new StreamingDecoder(Tok, skipSpecialTokens: true);
        Assert.Equal("hé", string.Concat(ids.Select(decoder.Push)) + decoder.Flush());
    }

    [Fact]
    public void RejectsUnknownIds()
    {
        var decoder = new StreamingDecoder(Tok);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => decoder.Push(Tok.VocabularySize));
        Assert.Contains(Tok.VocabularySize.ToString(), e.Message);
    }

    private static bool IsCompleteUtf8(byte[] bytes)
    {
        try
        {
            new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
