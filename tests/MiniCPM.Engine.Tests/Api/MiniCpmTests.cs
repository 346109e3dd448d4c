using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.ModelFiles;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tests.Api;

public sealed class MiniCpmTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public async Task ChatReplyEqualsGreedyGenerationOverTheSameChatMlPrompt()
    {
        using var model = MiniCpm.Load(tiny.Path, new MiniCpmOptions { Threads = 2, KvCacheTokens = 512 });
        var options = GenerationOptions.Greedy with { MaxNewTokens = 12, StopTokenIds = [] };

        using var chat = model.CreateChat(new() { Generation = options });
        chat.AddUser("Hello there");
        var prompt = chat.Template.Encode(chat.Messages, addGenerationPrompt: true);
        var streamed = new List<int>();
        await foreach (var token in chat.StreamReplyAsync()) streamed.Add(token.TokenId);

        var direct = model.CreateGenerator().Generate(prompt, options);
        Assert.Equal(direct.Tokens, streamed);
        Assert.Equal(12, streamed.Count);
    }

    [Fact]
    public async Task SeededSamplingIsReproducibleAcrossLoads()
    {
        async Task<string> Reply()
        {
            using var model = MiniCpm.Load(tiny.Path, new MiniCpmOptions { Threads = 1, KvCacheTokens = 256 });
            using var chat = model.CreateChat();
            return await chat.ReplyAsync("Tell me a story", GenerationOptions.MiniCpmSampling with { Seed = 42, MaxNewTokens = 16 });
        }
        Assert.Equal(await Reply(), await Reply());
    }

    [Fact]
    public async Task ContextOverflowIsTypedAndTheSessionStaysUsable()
    {
        using var model = MiniCpm.Load(tiny.Path, new MiniCpmOptions { Threads = 1, KvCacheTokens = 64 });
        using var chat = model.CreateChat();
        chat.AddUser(string.Join(' ', Enumerable.Repeat("word", 200)));
        await Assert.ThrowsAnyAsync<MiniCpmException>(async () => { await foreach (var _ in chat.StreamReplyAsync()) { } });
        chat.Reset();
        var reply = await chat.ReplyAsync("hi", GenerationOptions.Greedy with { MaxNewTokens = 4 });
        Assert.NotNull(reply);
    }

    [Fact]
    public void MissingModelAndMissingTokenizerAreTypedErrors()
    {
        Assert.Throws<ModelFormatException>(() => MiniCpm.Load(Path.Combine(tiny.Folder, "missing.gguf")));
        var bare = Path.Combine(tiny.Folder, "bare");
        Directory.CreateDirectory(bare);
        File.Copy(Path.Combine(TestData.GoldenCase("llm"), "config.json"), Path.Combine(bare, "config.json"));
        File.Copy(Path.Combine(TestData.GoldenCase("llm"), "model.safetensors"), Path.Combine(bare, "model.safetensors"));
        Assert.Throws<TokenizerNotFoundException>(() => MiniCpm.Load(bare));
    }
}
