using System.Text;
using LLama.Native;
using MiniCPM.Kernels.Formats;
using MiniCPM.LlamaCpp.Tests.TinyQwen2;

namespace MiniCPM.LlamaCpp.Tests;

/// <summary>
/// llama.cpp builds the intended byte-level BPE vocabulary from the written tokens, token types and merges
/// (arrays of strings and of i32 that its metadata table does not show).
/// </summary>
[Collection(LlamaCppCollection.Name)]
public sealed class LlamaCppVocabularyTests(TinyQwen2Files files)
{
    private ByteLevelVocabulary Vocabulary => files.Vocabulary;
    private SafeLlamaModelHandle.Vocabulary LlamaVocab => files.ModelOf(TensorType.F32).Weights.Vocab;

    [Fact]
    public void Every_byte_token_renders_as_its_byte()
    {
        for (int b = 0; b < 256; b++)
            Assert.Equal(new[] { (byte)b }, Piece(b, special: false));
    }

    [Fact]
    public void Merged_tokens_render_as_their_text_and_control_tokens_only_when_asked()
    {
        Assert.Equal(" the", Encoding.UTF8.GetString(Piece(Vocabulary.IdOf("Ġthe"), special: false)));
        Assert.Equal("er", Encoding.UTF8.GetString(Piece(Vocabulary.IdOf("er"), special: false)));

        foreach (int id in new[] { Vocabulary.EndOfTextId, Vocabulary.ImStartId, Vocabulary.ImEndId })
        {
            Assert.Equal(Vocabulary.Tokens[id], Encoding.UTF8.GetString(Piece(id, special: true)));
            Assert.Empty(Piece(id, special: false)); // control tokens are hidden from plain text
            Assert.True(((LLamaToken)id).IsControl(LlamaVocab), $"token {id} should be a control token");
        }
    }

    [Fact]
    public void Special_token_ids_are_the_written_ones()
    {
        Assert.Equal(Vocabulary.EndOfTextId, (int?)LlamaVocab.BOS);
        Assert.Equal(Vocabulary.ImEndId, (int?)LlamaVocab.EOS);
        Assert.Equal(Vocabulary.EndOfTextId, (int?)LlamaVocab.Pad);
        Assert.False(LlamaVocab.ShouldAddBOS);
        // llama.cpp finds the newline token by tokenizing "\n": byte 0x0A, spelled 'Ċ' in the byte mapping.
        Assert.Equal(Vocabulary.IdOf("Ċ"), (int?)LlamaVocab.Newline);
    }

    [Fact]
    public void Tokenizing_applies_the_written_merges_in_rank_order()
    {
        var v = Vocabulary;
        // Hand-derived with the qwen2 pre-tokenizer split ("the", " hen", " in", " the") and the ranked merges:
        //   "the"  → t h e → (h e) → t he                      (no "t he" merge)
        //   " hen" → Ġ h e n → (h e) → Ġ he n                  (no "Ġ he" merge)
        //   " in"  → Ġ i n → (i n) → Ġ in
        //   " the" → Ġ t h e → (Ġ t) rank 0 → (h e) → (Ġt he) → Ġthe
        int[] expected = [v.IdOf("t"), v.IdOf("he"), v.IdOf("Ġ"), v.IdOf("he"), v.IdOf("n"), v.IdOf("Ġ"), v.IdOf("in"), v.IdOf("Ġthe")];

        var tokens = files.ModelOf(TensorType.F32).Weights.Tokenize("the hen in the", add_bos: false, special: false, Encoding.UTF8);

        Assert.Equal(expected, tokens.Select(t => (int)t));
    }

    [Fact]
    public void Control_tokens_in_text_become_single_tokens_when_special_parsing_is_on()
    {
        var v = Vocabulary;
        var tokens = files.ModelOf(TensorType.F32).Weights.Tokenize("<|im_start|>a\n<|im_end|>", add_bos: false, special: true, Encoding.UTF8);

        Assert.Equal(new[] { v.ImStartId, v.IdOf("a"), v.IdOf("Ċ"), v.ImEndId }, tokens.Select(t => (int)t));
    }

    private byte[] Piece(int id, bool special)
    {
        Span<byte> buffer = stackalloc byte[64];
        int length = NativeApi.llama_token_to_piece(LlamaVocab, (LLamaToken)id, buffer, 0, special);
        Assert.True(length >= 0, $"token {id} needs more than {buffer.Length} bytes");
        return buffer[..length].ToArray();
    }
}
