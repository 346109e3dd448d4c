using MiniCPM.Engine.Chat;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Tests.Generation;
using MiniCPM.Engine.Tests.Tokenization;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Tests.Chat;

[Collection(Qwen2TokenizerCollection.Name)]
public sealed class ChatSessionTests(Qwen2TokenizerFixture fixture)
{
    private static readonly string[] Replies =
        ["Hello world.", "Fine, thanks.", "A longer third answer, told slowly, word by word, so that it needs many blocks."];

    private readonly Qwen2Tokenizer _tokenizer = fixture.FromJson;

    private FakeLanguageModel Model(int maxSequenceLength = 4096) =>
        ScriptedChatModel.Create(_tokenizer, turn => _tokenizer.Encode(Replies[Math.Min(turn, Replies.Length - 1)]),
            maxSequenceLength);

    private ChatSession Session(FakeLanguageModel model) =>
        new(model, _tokenizer, new ChatSessionOptions { Generation = GenerationOptions.Greedy });

    private static async Task<(string Text, List<GeneratedToken> Tokens)> Collect(IAsyncEnumerable<GeneratedToken> stream)
    {
        var tokens = new List<GeneratedToken>();
        await foreach (var t in stream) tokens.Add(t);
        return (string.Concat(tokens.Select(t => t.Text)), tokens);
    }

    [Fact]
    public async Task TwoTurns_Stream_ExtendHistory_AndPrefillOnlyNewTokens()
    {
        using var model = Model();
        using var session = Session(model);

        session.AddUser("Hi");
        var (first, tokens) = await Collect(session.StreamReplyAsync());
        Assert.Equal(Replies[0], first);
        Assert.Equal(FinishReason.StopToken, tokens[^1].Finish);

        var cachedBefore = session.CachedTokens;
        var callsBefore = model.FedTokenCounts.Count;
        session.AddUser("How are you?");
        var newTokens = session.Tokens.Count - cachedBefore + session.Template.EncodeGenerationPrompt().Length;
        var (second, _) = await Collect(session.StreamReplyAsync());

        Assert.Equal(Replies[1], second);
        Assert.Equal(newTokens, model.FedTokenCounts[callsBefore]); // the turn's prefill: only what was not cached
        Assert.True(newTokens < cachedBefore);
        Assert.Equal(session.CachedTokens, model.FedTokenCounts.Sum()); // nothing was ever fed twice
        Assert.Equal(
            [ChatMessage.User("Hi"), ChatMessage.Assistant(Replies[0]), ChatMessage.User("How are you?"), ChatMessage.Assistant(Replies[1])],
            session.Messages);
        // The kept ids are the template's rendering of the conversation (these replies tokenize canonically).
        Assert.Equal(session.Template.Encode(session.Messages, addGenerationPrompt: false), session.Tokens);
        Assert.Equal(1, model.LiveSequences);
    }

    [Fact]
    public async Task Cancellation_MidStream_FreesTheTurnsBlocks_AndLeavesTheSessionAsBefore()
    {
        using var model = Model();
        using var session = Session(model);
        await session.ReplyAsync("Hi");
        session.AddUser("How are you?");
        var blocksBefore = model.UsedBlocks;
        var tokensBefore = session.Tokens.ToArray();
        var messagesBefore = session.Messages.ToArray();

        using var cancel = new CancellationTokenSource();
        var received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in session.StreamReplyAsync(cancellation: cancel.Token))
                if (++received == 2) cancel.Cancel();
        });

        Assert.Equal(2, received);
        Assert.True(model.PeakUsedBlocks > blocksBefore);
        Assert.Equal(blocksBefore, model.UsedBlocks);
        Assert.Equal(1, model.LiveSequences);
        Assert.Equal(tokensBefore, session.Tokens);
        Assert.Equal(messagesBefore, session.Messages);

        var (retry, _) = await Collect(session.StreamReplyAsync());
        Assert.Equal(Replies[1], retry);
    }

    [Fact]
    public async Task Cancellation_OnTheFirstTurn_FreesEverything()
    {
        using var model = Model();
        using var session = Session(model);
        session.AddUser("Hi");
        using var cancel = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in session.StreamReplyAsync(cancellation: cancel.Token)) cancel.Cancel();
        });
        Assert.Equal(0, model.UsedBlocks);
        Assert.Equal(0, model.LiveSequences);
        Assert.Equal(0, session.CachedTokens);
    }

    [Fact]
    public async Task StoppingTheEnumerationEarly_RollsBackLikeCancellation()
    {
        using var model = Model();
        using var session = Session(model);
        session.AddUser("Hi");
        await foreach (var _ in session.StreamReplyAsync()) break;
        Assert.Equal(0, model.UsedBlocks);
        Assert.Single(session.Messages);
        Assert.Equal(Replies[0], (await Collect(session.StreamReplyAsync())).Text);
    }

    [Fact]
    public async Task CacheExhaustedMidReply_SurfacesTheModelsException_AndTheSessionStaysUsable()
    {
        using var model = Model();
        using var session = Session(model);
        await session.ReplyAsync("Hi");
        await session.ReplyAsync("How are you?");
        session.AddUser("Tell me more.");
        var blocksBefore = model.UsedBlocks;
        model.CapacityBlocks = blocksBefore + 6; // the turn's prompt fits, the long third reply does not

        var received = 0;
        await Assert.ThrowsAsync<FakeCacheExhaustedException>(async () =>
        {
            await foreach (var _ in session.StreamReplyAsync()) received++;
        });

        Assert.InRange(received, 1, 20);
        Assert.Equal(blocksBefore, model.UsedBlocks);
        Assert.Equal(ChatRole.User, session.Messages[^1].Role);

        var (shorter, tokens) = await Collect(session.StreamReplyAsync(GenerationOptions.Greedy with { MaxNewTokens = 3 }));
        Assert.Equal(FinishReason.MaxNewTokens, tokens[^1].Finish);
        Assert.Equal(_tokenizer.Decode(_tokenizer.Encode(Replies[2])[..3]), shorter);
        Assert.Equal(ChatRole.Assistant, session.Messages[^1].Role);
    }

    [Fact]
    public async Task BeamSearchReply_MatchesTheScript_AndFreesItsBeams()
    {
        using var model = Model();
        using var session = Session(model);
        session.AddUser("Hi");
        var (text, tokens) = await Collect(session.StreamReplyAsync(GenerationOptions.MiniCpmBeamSearch));
        Assert.Equal(Replies[0], text);
        Assert.Equal(FinishReason.StopToken, tokens[^1].Finish);
        Assert.Equal(1, model.LiveSequences);

        // The reply was never fed (beams were forks): it is fed with the next turn, and the conversation continues.
        var cachedAfterBeam = session.CachedTokens;
        Assert.Equal(session.Template.Encode([ChatMessage.User("Hi")], true).Length, cachedAfterBeam);
        Assert.Equal(Replies[1], await session.ReplyAsync("How are you?"));
        Assert.Equal(session.Template.Encode(session.Messages, addGenerationPrompt: false), session.Tokens);
    }

    [Fact]
    public async Task PromptLongerThanTheContext_IsATypedError_AndChangesNothing()
    {
        using var model = Model(maxSequenceLength: 40);
        using var session = Session(model);
        session.AddUser(string.Join(" ", Enumerable.Repeat("word", 50)));
        await Assert.ThrowsAsync<PromptTooLongException>(async () => await Collect(session.StreamReplyAsync()));
        Assert.Equal(0, model.LiveSequences);
        Assert.Empty(model.FedTokenCounts);

        session.Reset();
        Assert.Equal(Replies[0], await session.ReplyAsync("Hi"));
    }

    [Fact]
    public async Task ReplyWithoutAUserMessage_OrTwoAtOnce_IsRejected()
    {
        using var model = Model();
        using var session = Session(model);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Collect(session.StreamReplyAsync()));

        session.AddUser("Hi");
        await using var first = session.StreamReplyAsync().GetAsyncEnumerator();
        Assert.True(await first.MoveNextAsync());
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await Collect(session.StreamReplyAsync()));
        Assert.Throws<InvalidOperationException>(() => session.AddUser("again"));
    }

    [Fact]
    public void SystemPrompt_OpensTheConversation()
    {
        using var model = Model();
        using var session = new ChatSession(model, _tokenizer, new ChatSessionOptions { SystemPrompt = "Be brief." });
        session.AddUser("Hi");
        Assert.Equal(_tokenizer.Encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"),
            session.Tokens);
    }
}
