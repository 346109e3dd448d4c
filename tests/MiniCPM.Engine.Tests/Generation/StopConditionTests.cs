using MiniCPM.Engine.Chat;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Tests.Tokenization;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>Stop tokens, stop strings, limits and bad input through <see cref="Generator"/>, on the real vocabulary.</summary>
[Collection(Qwen2TokenizerCollection.Name)]
public sealed class StopConditionTests(Qwen2TokenizerFixture fixture)
{
    private readonly Qwen2Tokenizer _tokenizer = fixture.FromJson;

    private int ImEnd => _tokenizer.Specials.ImEnd!.Value;

    private int[] Prompt => new ChatTemplate(_tokenizer).Encode([ChatMessage.User("Hi")], addGenerationPrompt: true);

    private FakeLanguageModel Model(string reply, int maxSequenceLength = 4096) =>
        ScriptedChatModel.Create(_tokenizer, _ => _tokenizer.Encode(reply), maxSequenceLength);

    [Fact]
    public void StopToken_EndsTheReply_AndIsNotText()
    {
        using var model = Model("Hello world.");
        var result = new Generator(model, _tokenizer).Generate(Prompt, GenerationOptions.Greedy);

        Assert.Equal([.. _tokenizer.Encode("Hello world."), ImEnd], result.Tokens);
        Assert.Equal("Hello world.", result.Text);
        Assert.Equal(FinishReason.StopToken, result.Finish);
        Assert.All(result.Tokens, id => Assert.True(id < _tokenizer.VocabularySize)); // padding rows (20) masked
        Assert.Equal(0, model.LiveSequences);
    }

    [Fact]
    public void SampledReply_WithDefaultOptions_FollowsAPeakedModel()
    {
        // Peaks are 15 logits above everything else: at temperature 0.7 the script is all but certain.
        using var model = Model("Hello world.");
        var result = new Generator(model, _tokenizer).Generate(Prompt, GenerationOptions.MiniCpmSampling with { Seed = 1 });
        Assert.Equal("Hello world.", result.Text);
    }

    [Theory]
    [InlineData(DecodingStrategy.Greedy)]
    [InlineData(DecodingStrategy.BeamSearch)]
    public void StopString_SpanningTokens_IsCutFromTheText(DecodingStrategy strategy)
    {
        const string reply = "Hello world, this is it.";
        const string stop = "d, th";
        using var model = Model(reply);
        var options = GenerationOptions.Greedy with { Strategy = strategy, StopStrings = ["never", stop] };

        var result = new Generator(model, _tokenizer).Generate(Prompt, options);

        Assert.Equal("Hello worl", result.Text);
        Assert.Equal(FinishReason.StopString, result.Finish);
        // Generation stopped at the token completing the stop string, which began tokens earlier.
        Assert.Contains(stop, _tokenizer.Decode(result.Tokens));
        Assert.DoesNotContain(stop, _tokenizer.Decode(result.Tokens[..^1]));
        Assert.DoesNotContain(stop, _tokenizer.Decode(result.Tokens[^1..]));
        Assert.Equal(_tokenizer.Encode(reply)[..result.Tokens.Length], result.Tokens);
    }

    [Fact]
    public void StreamedText_EqualsDecodeOfAllIds_AndNeverHalfACharacter()
    {
        const string reply = "你好，世界！🦜🚀 naïve café";
        using var model = Model(reply);
        var items = new Generator(model, _tokenizer).Stream(Prompt, GenerationOptions.Greedy).ToList();

        var ids = items.Select(t => t.TokenId).ToArray();
        Assert.Equal([.. _tokenizer.Encode(reply), ImEnd], ids);
        Assert.Equal(_tokenizer.Decode(ids[..^1]), string.Concat(items.Select(t => t.Text)));
        Assert.Equal(reply, string.Concat(items.Select(t => t.Text)));
        Assert.All(items, t => Assert.DoesNotContain('\uFFFD', t.Text));
        Assert.Contains(items[..^1], t => t.Text == ""); // an emoji's first bytes waited for the rest
        Assert.All(items[..^1], t => Assert.Null(t.Finish));
        Assert.Equal(FinishReason.StopToken, items[^1].Finish);
    }

    [Fact]
    public void MaxNewTokens_Counts_AllGeneratedTokens()
    {
        using var model = Model("one two three four five");
        var result = new Generator(model, _tokenizer).Generate(Prompt, GenerationOptions.Greedy with { MaxNewTokens = 3 });
        Assert.Equal(_tokenizer.Encode("one two three four five")[..3], result.Tokens);
        Assert.Equal("one two three", result.Text);
        Assert.Equal(FinishReason.MaxNewTokens, result.Finish);
    }

    [Fact]
    public void ContextEnd_StopsWhenTheSequenceIsFull()
    {
        using var model = Model("one two three four five six seven", maxSequenceLength: Prompt.Length + 5);
        var result = new Generator(model, _tokenizer).Generate(Prompt, GenerationOptions.Greedy);
        Assert.Equal(5, result.Tokens.Length); // prompt + reply fill the context exactly
        Assert.Equal(FinishReason.ContextFull, result.Finish);
        Assert.Equal(Prompt.Length + 4, model.FedTokenCounts.Sum()); // the last token was never fed
    }

    [Fact]
    public void PromptFillingTheContext_IsATypedError_BeforeTheModelRuns()
    {
        using var model = Model("x", maxSequenceLength: Prompt.Length);
        var error = Assert.Throws<PromptTooLongException>(() => new Generator(model, _tokenizer).Generate(Prompt));
        Assert.Equal(Prompt.Length, error.PromptTokens);
        Assert.Empty(model.FedTokenCounts);
        Assert.Equal(0, model.LiveSequences);
    }

    [Fact]
    public void EmptyPrompt_AndUnknownIds_AreRejected()
    {
        using var model = Model("x");
        var generator = new Generator(model, _tokenizer);
        Assert.Throws<ArgumentException>(() => generator.Generate([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate([1, model.VocabularySize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate(Prompt, GenerationOptions.Greedy with { MaxNewTokens = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate(Prompt, new GenerationOptions { TopP = 0f }));
        Assert.Equal(0, model.LiveSequences);
    }

    [Fact]
    public void StepLogitsObserver_SeesRawLogitsOfEveryStep()
    {
        using var model = Model("Hello world.");
        var peaks = new List<int>();
        var result = new Generator(model, _tokenizer).Generate(Prompt, GenerationOptions.Greedy,
            (step, logits) => peaks.Add(TokenSampler.ArgMax(logits[.._tokenizer.VocabularySize])));
        Assert.Equal(result.Tokens, peaks);
    }
}
