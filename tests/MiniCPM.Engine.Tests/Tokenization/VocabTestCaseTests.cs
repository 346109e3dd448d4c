using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Tokenization;

/// <summary>llama.cpp's 43 Qwen2 tokenizer cases: exact ids, decode back to the input, both loaders agree.</summary>
[Collection(Qwen2TokenizerCollection.Name)]
public sealed class VocabTestCaseTests(Qwen2TokenizerFixture fixture)
{
    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < TokenizerTestData.VocabCases.Count; i++) data.Add(i);
        return data;
    }

    [Fact]
    public void TheFileHolds43Cases() => Assert.Equal(43, TokenizerTestData.VocabCases.Count);

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void EncodesExactlyAsTheReference(int index)
    {
        var (text, expected) = TokenizerTestData.VocabCases[index];
        Assert.Equal(expected, fixture.FromJson.Encode(text, allowSpecial: false));
        Assert.Equal(expected, fixture.FromJson.Encode(text));
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void DecodesTheReferenceIdsBackToTheInput(int index)
    {
        var (text, expected) = TokenizerTestData.VocabCases[index];
        Assert.Equal(text, fixture.FromJson.Decode(expected));
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void PartsLoaderGivesTheSameIds(int index)
    {
        var (text, expected) = TokenizerTestData.VocabCases[index];
        Assert.Equal(expected, fixture.FromParts.Encode(text));
        Assert.Equal(text, fixture.FromParts.Decode(expected));
    }

    [Fact]
    public void BothLoadersHaveTheSameVocabulary()
    {
        Assert.Equal(151669, fixture.FromJson.VocabularySize); // 151,643 BPE tokens + 26 added (README)
        Assert.Equal(fixture.FromJson.VocabularySize, fixture.FromParts.VocabularySize);
        var (tokens, _, types) = Qwen2TokenizerFixture.ReadParts();
        for (var id = 0; id < tokens.Count; id++)
        {
            Assert.Equal(tokens[id], fixture.FromJson.IdToToken(id));
            Assert.Equal(id, fixture.FromParts.TokenToId(tokens[id]));
            Assert.Equal(types[id] == 3, fixture.FromParts.IsSpecial(id));
        }
    }
}
