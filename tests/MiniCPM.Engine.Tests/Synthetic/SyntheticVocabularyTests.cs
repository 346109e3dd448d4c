using MiniCPM.Engine.ModelFiles;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Tests.Tokenization;
using MiniCPM.Engine.Tokenization;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Tests.Synthetic;

/// <summary>
/// Writes, once, a model with the 7B preset's vocabulary (151666 ids) but tiny layers, as GGUF and as an HF folder,
/// and a vocabulary-only GGUF for the 0.5b preset's 32000 ids.
/// </summary>
public sealed class SyntheticVocabularyFixture : IDisposable
{
    public SyntheticVocabularyFixture()
    {
        Directory = TestData.TempDirectory();
        var fullVocab = SyntheticModelSpec.Create("full-vocab", hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 64,
            vocab: SyntheticModelSpec.Preset("qwen2-7b-shape").Llm.VocabSize, tieEmbeddings: true);
        FullGguf = Path.Combine(Directory, "full.gguf");
        SyntheticModel.WriteGguf(fullVocab, FullGguf, TensorType.F16);
        FullFolder = Path.Combine(Directory, "full-hf");
        SyntheticModel.WriteHfFolder(fullVocab, FullFolder, TensorType.BF16);

        // The 0.5b preset's tokenizer, written the same way without its 774 MB of weights.
        SmallVocabGguf = Path.Combine(Directory, "vocab-32000.gguf");
        var writer = new GgufWriter();
        writer.AddMetadata("general.architecture", GgufValue.FromString("qwen2"));
        foreach (var (key, value) in SyntheticTokenizerFiles.GgufMetadata(SyntheticVocabulary.Build(32000))) writer.AddMetadata(key, value);
        writer.WriteTo(SmallVocabGguf);

        FullFromGguf = new(() => ModelTokenizer.Load(FullGguf));
        FullFromFolder = new(() => ModelTokenizer.Load(FullFolder));
        Small = new(() => ModelTokenizer.Load(SmallVocabGguf));
    }

    public Lazy<Qwen2Tokenizer> FullFromGguf { get; }
    public Lazy<Qwen2Tokenizer> FullFromFolder { get; }
    public Lazy<Qwen2Tokenizer> Small { get; }

    public string Directory { get; }
    public string FullGguf { get; }
    public string FullFolder { get; }
    public string SmallVocabGguf { get; }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

/// <summary>The tokenizer a synthetic model carries: the real one where the vocabulary allows, consistent when cut.</summary>
[Collection(Qwen2TokenizerCollection.Name)]
public sealed class SyntheticVocabularyTests(Qwen2TokenizerFixture reference, SyntheticVocabularyFixture files)
    : IClassFixture<SyntheticVocabularyFixture>
{
    // Texts beyond the 43 cases: chat markup, code, several scripts, emoji, digits.
    private static readonly string[] MoreTexts =
    [
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
        "def f(x):\n    return x ** 2  # squares\n",
        "Привет, мир! 你好，世界！ こんにちは 안녕하세요 مرحبا",
        "🚀🦙 3.14159 1234567890 ... ''' \t\t tabs",
    ];

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < TokenizerTestData.VocabCases.Count; i++) data.Add(i);
        return data;
    }

    private Qwen2Tokenizer FullFromGguf => files.FullFromGguf.Value;
    private Qwen2Tokenizer FullFromFolder => files.FullFromFolder.Value;
    private Qwen2Tokenizer Small => files.Small.Value;

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void FullVocabularyPresetEncodesThe43CasesAsTheHuggingFaceLoader(int index)
    {
        var (text, expected) = TokenizerTestData.VocabCases[index];
        Assert.Equal(expected, reference.FromJson.Encode(text, allowSpecial: false)); // the reference itself
        Assert.Equal(expected, FullFromGguf.Encode(text, allowSpecial: false));
        Assert.Equal(expected, FullFromFolder.Encode(text, allowSpecial: false));
        Assert.Equal(text, FullFromGguf.Decode(expected));
    }

    [Fact]
    public void FullVocabularyKeepsTheRealIdsAndAddsMiniCpmTokensInRange()
    {
        foreach (var tok in new[] { FullFromGguf, FullFromFolder })
        {
            Assert.Equal(151666, tok.VocabularySize);
            Assert.Equal((151643, 151644, 151645), (tok.Specials.EndOfText, tok.Specials.ImStart, tok.Specials.ImEnd));
            foreach (var text in MoreTexts) Assert.Equal(reference.FromJson.Encode(text), tok.Encode(text));
            for (int id = 0; id < 151643; id += 97) Assert.Equal(reference.FromJson.IdToToken(id), tok.IdToToken(id));
            // MiniCPM-V's image tokens exist, are special, and have embedding rows.
            foreach (var id in new[] { tok.Specials.ImageStart, tok.Specials.ImageEnd, tok.Specials.SliceStart, tok.Specials.SliceEnd,
                                       tok.Specials.ImageIdStart, tok.Specials.ImageIdEnd })
            {
                Assert.NotNull(id);
                Assert.InRange(id!.Value, 151646, 151665);
                Assert.True(tok.IsSpecial(id.Value));
            }
            Assert.Equal(128244, tok.Specials.Unknown); // Qwen2's own "<unk>" BPE token, made special as in MiniCPM-V
            Assert.True(tok.IsSpecial(128244));
            Assert.Equal([128244], tok.Encode("<unk>"));
            Assert.True(tok.IsSpecial(151665)); // the last reserved id
        }
    }

    [Theory]
    [InlineData(259)]
    [InlineData(4096)]
    [InlineData(32000)]
    [InlineData(151666)]
    [InlineData(151936)] // Qwen2's padded embedding size: unused ids at the end
    public void EveryTokenTextIsDistinctAndEveryIdHasAToken(int size)
    {
        var vocab = SyntheticVocabulary.Build(size);
        Assert.Equal(size, vocab.Tokens.Length);
        Assert.Equal(size, vocab.TokenTypes.Length);
        Assert.All(vocab.Tokens, t => Assert.False(string.IsNullOrEmpty(t)));
        // llama.cpp asserts one id per text when it loads the vocabulary.
        Assert.Equal(size, vocab.Tokens.Distinct(StringComparer.Ordinal).Count());
        int lastAdded = size >= 151700 ? 151667 : 151666; // MiniCPM-o's size also carries the 7 audio tokens
        Assert.Equal(size > lastAdded ? size - lastAdded : 0, vocab.TokenTypes.Count(t => t == (int)GgufTokenType.Unused));
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void CutVocabularyNeverEmitsIdsOutsideItAndRoundTrips(int index)
    {
        var (text, _) = TokenizerTestData.VocabCases[index];
        var ids = Small.Encode(text, allowSpecial: false);
        Assert.All(ids, id => Assert.InRange(id, 0, 31996)); // plain text never yields the specials 31997–31999
        Assert.Equal(text, Small.Decode(ids));
    }

    [Fact]
    public void CutVocabularyIsTheRealBpeStoppedAtAMergeRank()
    {
        var tiny = SyntheticVocabulary.Build(4096).ToTokenizer();
        int sameIds = 0;
        foreach (var text in TokenizerTestData.VocabCases.Select(c => c.Text).Concat(MoreTexts))
        {
            foreach (var (tok, regular) in new[] { (Small, 31975), (tiny, 4071) })
            {
                var full = reference.FromJson.Encode(text, allowSpecial: false);
                var cut = tok.Encode(text, allowSpecial: false);
                Assert.All(cut, id => Assert.InRange(id, 0, regular - 1));
                Assert.Equal(text, tok.Decode(cut));
                // Where the real ids all survive the cut, the cut tokenizer must give exactly them.
                if (full.All(id => id < regular))
                {
                    Assert.Equal(full, cut);
                    sameIds++;
                }
                else Assert.True(cut.Length > full.Length, $"'{text}': a cut vocabulary needs more tokens, not {cut.Length} vs {full.Length}");
            }
        }
        Assert.True(sameIds >= 20, $"only {sameIds} texts exercised the equal-ids rule");
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(151700)]
    public void MediaTokensAreSpecialAndInsideTheVocabulary(int size)
    {
        var tok = SyntheticVocabulary.Build(size).ToTokenizer();
        foreach (var text in new[] { "<image>", "</image>", "<slice>", "</slice>", "<image_id>", "</image_id>", "<unk>", "<|audio_start|>", "<|audio_end|>" })
        {
            int? id = tok.TokenToId(text);
            Assert.NotNull(id);
            Assert.InRange(id!.Value, 0, size - 1);
            Assert.Equal([id.Value], tok.Encode(text));
            Assert.True(tok.IsSpecial(id.Value));
        }
        Assert.Null(SyntheticVocabulary.Build(300).ToTokenizer().TokenToId("<image>")); // too small to carry them
    }

    [Fact]
    public void CutVocabularyRemapsTheChatMlSpecialsToTheTopIds()
    {
        Assert.Equal(32000, Small.VocabularySize);
        Assert.Equal((31997, 31998, 31999), (Small.Specials.EndOfText, Small.Specials.ImStart, Small.Specials.ImEnd));
        Assert.Equal([31998, .. Small.Encode("user\nHi"), 31999], Small.Encode("<|im_start|>user\nHi<|im_end|>"));
        Assert.Equal(31975, Small.Specials.ImageStart); // the media tokens sit below the ChatML specials
        using var gguf = GgufFile.Open(files.SmallVocabGguf);
        Assert.Equal(31997, gguf.Require("tokenizer.ggml.padding_token_id").AsInt32());
        Assert.StartsWith("{% for message in messages %}", gguf.Require("tokenizer.chat_template").AsString());
    }
}
