using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>Special and added tokens: parsed whole before BPE, optional for user text, MiniCPM's added on top.</summary>
[Collection(Qwen2TokenizerCollection.Name)]
public sealed class SpecialTokenTests(Qwen2TokenizerFixture fixture)
{
    private Qwen2Tokenizer Tok => fixture.FromJson;

    [Fact]
    public void ChatMlIdsAreQwen2s()
    {
        // Reference doc §5.1: 151643–151645.
        Assert.Equal(151643, Tok.Specials.EndOfText);
        Assert.Equal(151644, Tok.Specials.ImStart);
        Assert.Equal(151645, Tok.Specials.ImEnd);
        Assert.True(Tok.IsSpecial(151645));
        Assert.False(Tok.IsSpecial(198));
        Assert.Null(Tok.Specials.ImageStart); // the test vocabulary is Qwen3's: no MiniCPM tokens
        Assert.Equal(198, Tok.TokenToId("Ċ")); // "\n" in byte-level text (§5.1)
        Assert.Null(Tok.TokenToId("no such token"));
    }

    [Fact]
    public void ChatTemplateTextTokenizesSpecialsWhole()
    {
        var ids = Tok.Encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        int[] expected =
        [
            151644, .. Tok.Encode("user\nHi"), 151645, .. Tok.Encode("\n"), 151644, .. Tok.Encode("assistant\n"),
        ];
        Assert.Equal(expected, ids);
        Assert.Equal(198, Tok.Encode("\n").Single());
    }

    [Fact]
    public void WithoutAllowSpecialTheTextOfASpecialIsOrdinaryText()
    {
        var ids = Tok.Encode("<|im_end|>", allowSpecial: false);
        Assert.DoesNotContain(151645, ids);
        Assert.True(ids.Length > 1);
        Assert.All(ids, id => Assert.False(Tok.IsSpecial(id)));
        Assert.Equal("<|im_end|>", Tok.Decode(ids));
        // Non-special added tokens (<think>, special=false in tokenizer_config) are still matched whole.
        Assert.Equal([151667], Tok.Encode("<think>", allowSpecial: false));
    }

    [Fact]
    public void SpecialsSplitTheTextAroundThem()
    {
        // The text on each side is tokenized on its own: " x" before a special is not merged with what follows.
        var ids = Tok.Encode("Hello<|endoftext|> world");
        Assert.Equal(Tok.Encode("Hello").Concat([151643]).Concat(Tok.Encode(" world")), ids);
    }

    [Fact]
    public void DecodeCanSkipSpecials()
    {
        var ids = Tok.Encode("<|im_start|>hi<|im_end|>");
        Assert.Equal("<|im_start|>hi<|im_end|>", Tok.Decode(ids));
        Assert.Equal("hi", Tok.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void MiniCpmImageTokensAddedOnTopGetNextIdsAndParseWhole()
    {
        var mini = Tok.WithSpecialTokens(SpecialTokenIds.MiniCpmImageTokens);
        var first = Tok.VocabularySize;
        // "<unk>" is already a regular BPE token of this vocabulary (id 128244): it keeps that id and becomes special.
        var unk = Tok.TokenToId("<unk>");
        Assert.Equal(128244, unk);
        Assert.False(Tok.IsSpecial(128244));
        Assert.True(Tok.Encode("<unk>").Length > 1); // while not special, BPE splits the text "<unk>"
        Assert.Equal(first + 6, mini.VocabularySize);
        Assert.Equal(first, mini.Specials.ImageStart);
        Assert.Equal(first + 1, mini.Specials.ImageEnd);
        Assert.Equal(first + 2, mini.Specials.SliceStart);
        Assert.Equal(first + 3, mini.Specials.SliceEnd);
        Assert.Equal(first + 4, mini.Specials.ImageIdStart);
        Assert.Equal(first + 5, mini.Specials.ImageIdEnd);
        Assert.Equal(unk, mini.Specials.Unknown);
        Assert.True(mini.IsSpecial(128244));
        Assert.Equal([128244], mini.Encode("<unk>"));
        Assert.Equal([64, 128244, 65], mini.Encode("a<unk>b")); // whole, and the text around it BPE'd alone
        Assert.Equal(151645, mini.Specials.ImEnd);            // existing tokens keep their ids
        Assert.Null(Tok.Specials.ImageStart);                  // the original is unchanged

        // Reference doc §6.2: "<image_id>0</image_id><image>" + 64 × "<unk>" + "</image>" then the text.
        var text = "<image_id>0</image_id><image>" + string.Concat(Enumerable.Repeat("<unk>", 64)) + "</image>\nWhat?";
        var ids = mini.Encode(text);
        int[] head = [first + 4, Tok.Encode("0").Single(), first + 5, first];
        Assert.Equal(head, ids[..4]);
        Assert.All(ids[4..68], id => Assert.Equal(128244, id));
        Assert.Equal(first + 1, ids[68]);
        Assert.Equal(Tok.Encode("\nWhat?"), ids[69..]);
        Assert.Equal(text, mini.Decode(ids));

        // Adding an existing token again changes nothing.
        Assert.Equal(mini.VocabularySize, mini.WithSpecialTokens(["<image>", "<|im_end|>"]).VocabularySize);
    }

    [Fact]
    public void LongestAddedTokenWins()
    {
        var t = Tok.WithSpecialTokens(["<a>", "<a><b>"]);
        var ab = t.TokenToId("<a><b>")!.Value;
        Assert.Equal([ab, t.TokenToId("<a>")!.Value], t.Encode("<a><b><a>"));
    }
}
