using MiniCPM.Engine.Chat;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Tests.Tokenization;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>
/// Greedy generation through a model's device decoding (<see cref="IDeviceGreedyDecoder"/>, here
/// <see cref="FakeDeviceGreedyModel"/>) against the same model stepped one token at a time: the same tokens, texts and
/// finish, the same sequence and cache blocks afterwards, and the same errors after the same tokens — for every stop
/// condition and several windows.
/// </summary>
[Collection(Qwen2TokenizerCollection.Name)]
public sealed class DeviceGreedyGenerationTests(Qwen2TokenizerFixture fixture)
{
    private readonly Qwen2Tokenizer _tokenizer = fixture.FromJson;

    private int[] Prompt => new ChatTemplate(_tokenizer).Encode([ChatMessage.User("Hi")], addGenerationPrompt: true);

    private const string Reply = "one two three four five six seven eight nine ten";

    public static TheoryData<int, string> Cases()
    {
        var cases = new TheoryData<int, string>();
        foreach (int window in new[] { 1, 2, 3, 5, 16 })
            foreach (string stop in new[] { "token", "string", "max", "context", "blocks" })
                cases.Add(window, stop);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryStopConditionEndsTheReplyAsSteppingOneByOne(int window, string stop)
    {
        var options = GenerationOptions.Greedy;
        int maxSequenceLength = 4096, capacityBlocks = 1 << 20;
        switch (stop)
        {
            case "string": options = options with { StopStrings = ["ee fo"] }; break; // spans "three" and " four"
            case "max": options = options with { MaxNewTokens = 7 }; break;
            case "context": maxSequenceLength = Prompt.Length + 6; break;
            case "blocks": capacityBlocks = (Prompt.Length + 6) / 4; break; // the cache runs out mid-reply
        }
        FakeLanguageModel Model()
        {
            var model = ScriptedChatModel.Create(_tokenizer, _ => _tokenizer.Encode(Reply), maxSequenceLength);
            model.CapacityBlocks = capacityBlocks;
            return model;
        }

        var host = Run(Model(), options);
        var device = new FakeDeviceGreedyModel(Model(), window);
        var onDevice = Run(device, options);

        Assert.True(device.Windows > 0);
        Assert.Equal(host.Items, onDevice.Items);
        Assert.Equal(host.Error?.GetType(), onDevice.Error?.GetType());
        Assert.Equal(host.Sequence, onDevice.Sequence);
        Assert.Equal(host.UsedBlocks, onDevice.UsedBlocks);
        if (stop == "blocks") Assert.IsType<FakeCacheExhaustedException>(host.Error);
        else Assert.Equal(stop switch
        {
            "token" => FinishReason.StopToken, "string" => FinishReason.StopString, "max" => FinishReason.MaxNewTokens,
            _ => FinishReason.ContextFull,
        }, host.Items[^1].Finish);
    }

    /// <summary>A reply whose fifth choice finds every logit −∞: the same four tokens, then the same error.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void NothingToChooseFailsAfterTheSameTokens(int window)
    {
        FakeLanguageModel Model() => new(64, (tokens, logits) =>
        {
            int generated = tokens.Count - 3;
            logits.Fill(generated >= 4 ? float.NegativeInfinity : 0f);
            if (generated < 4) logits[10 + generated] = 1f;
        });
        var options = GenerationOptions.Greedy with { StopTokenIds = [] };
        var host = Run(Model(), options, prompt: [1, 2, 3]);
        var onDevice = Run(new FakeDeviceGreedyModel(Model(), window), options, prompt: [1, 2, 3]);

        Assert.Equal([10, 11, 12, 13], host.Items.Select(t => t.TokenId));
        Assert.IsType<InvalidOperationException>(host.Error);
        Assert.Equal(host.Items, onDevice.Items);
        Assert.IsType<InvalidOperationException>(onDevice.Error);
        Assert.Equal(host.Sequence, onDevice.Sequence);
    }

    [Fact]
    public void OnlyPlainGreedyDecodingTakesTheDevicePath()
    {
        GenerationOptions greedy = GenerationOptions.Greedy with { MaxNewTokens = 4 };
        int Windows(GenerationOptions options, StepLogitsObserver? observer = null)
        {
            var model = new FakeDeviceGreedyModel(ScriptedChatModel.Create(_tokenizer, _ => _tokenizer.Encode(Reply)), 3);
            var result = new Generator(model, _tokenizer).Generate(Prompt, options, observer);
            Assert.Equal(_tokenizer.Encode(Reply)[..4], result.Tokens);
            return model.Windows;
        }

        Assert.Equal(1, Windows(greedy)); // the first token from the prompt's logits, the other three in one window
        Assert.Equal(0, Windows(greedy with { RepetitionPenalty = 1.1f }));
        Assert.Equal(0, Windows(greedy, (_, _) => { }));
        Assert.Equal(0, Windows(GenerationOptions.MiniCpmSampling with { MaxNewTokens = 4, Seed = 1 }));
    }

    /// <summary>A chat turn forks the conversation's sequence; the reply commits the turn's sequence as it stands.</summary>
    [Fact]
    public async Task AChatTurnOnAForkedSequenceCachesWhatSteppingWouldHave()
    {
        async Task<(string, int, int)> Chat(ILanguageModel model, FakeLanguageModel fake)
        {
            using var session = new ChatSession(model, _tokenizer);
            var first = await session.ReplyAsync("Hi", GenerationOptions.Greedy);
            var second = await session.ReplyAsync("More", GenerationOptions.Greedy with { MaxNewTokens = 5 });
            return (first + "|" + second, fake.LiveSequences, fake.UsedBlocks);
        }

        string[] replies = ["Hello there, friend.", Reply];
        var host = ScriptedChatModel.Create(_tokenizer, turn => _tokenizer.Encode(replies[turn]));
        var device = new FakeDeviceGreedyModel(ScriptedChatModel.Create(_tokenizer, turn => _tokenizer.Encode(replies[turn])), 4);
        var expected = await Chat(host, host);
        Assert.Equal(expected, await Chat(device, device.Inner));
        Assert.True(device.Windows >= 2);
    }

    private sealed record Outcome(List<GeneratedToken> Items, Exception? Error, int[] Sequence, int UsedBlocks);

    /// <summary>Generates step by step on a sequence kept afterwards; the items, the error that ended it (if any),
    /// the tokens the sequence holds and the cache blocks in use.</summary>
    private Outcome Run(ILanguageModel model, GenerationOptions options, int[]? prompt = null)
    {
        var fake = model as FakeLanguageModel ?? ((FakeDeviceGreedyModel)model).Inner;
        var context = DecodingContext.Create(model, prompt is null ? _tokenizer : null, options);
        var sequence = model.CreateSequence();
        var logits = DecodingContext.Feed(model, sequence, prompt ?? Prompt);
        var run = new SamplingRun(model, sequence, logits, context, null);
        var items = new List<GeneratedToken>();
        Exception? error = null;
        try
        {
            while (!run.IsFinished) items.Add(run.Step());
        }
        catch (Exception e) when (e is InvalidOperationException or FakeCacheExhaustedException)
        {
            error = e;
        }
        return new Outcome(items, error, [.. fake.TokensOf(sequence)], fake.UsedBlocks);
    }
}
