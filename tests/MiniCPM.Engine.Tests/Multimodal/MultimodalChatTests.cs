using MiniCPM.Engine.Chat;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Multimodal;
using MiniCPM.Engine.Tests.Api;

namespace MiniCPM.Engine.Tests.Multimodal;

/// <summary>
/// Images and audio in chat sessions, on the tiny synthetic model with a stand-in encoder (fixed placeholder text and
/// pseudo-random rows): where the runs land, that the rows reach the model, and that a multi-turn conversation with
/// media gives what one-shot generation over the same prompt gives.
/// </summary>
public sealed class MultimodalChatTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    private static readonly GenerationOptions Greedy = GenerationOptions.Greedy with { MaxNewTokens = 6, StopTokenIds = [] };

    /// <summary>An image = overview of 3 rows + one slice of 2 rows; audio = one run of 2 rows.</summary>
    private sealed class StandInEncoder(int hidden, float amplitude = 1f) : IMediaEncoder
    {
        public List<int> ImageIndices { get; } = [];

        public MediaEncoding Encode(ChatMedia media, int imageIndex)
        {
            if (media is AudioMedia)
                return new MediaEncoding("<|audio_start|><unk><unk><|audio_end|>", [Rows(2, 7 + imageIndex)]);
            ImageIndices.Add(imageIndex);
            return new MediaEncoding($"<image_id>{imageIndex}</image_id><image><unk><unk><unk></image><slice><unk><unk></slice>",
                [Rows(3, imageIndex), Rows(2, 100 + imageIndex)]);
        }

        private float[] Rows(int rows, int seed)
        {
            var random = new Random(seed);
            return Enumerable.Range(0, rows * hidden).Select(_ => amplitude * (float)(random.NextDouble() * 2 - 1)).ToArray();
        }
    }

    private static readonly ImageMedia AnImage = ChatMedia.Image(new byte[] { 1, 2, 3 });

    private MiniCpm Load() => MiniCpm.Load(tiny.Path, new MiniCpmOptions { Threads = 2, KvCacheTokens = 1024 });

    [Fact]
    public void AnImageWithoutATagGoesBeforeTheTextAndItsRunsAreFound()
    {
        using var model = Load();
        var encoder = new StandInEncoder(model.Config.HiddenSize);
        using var chat = model.CreateChat(new ChatSessionOptions { MediaEncoder = encoder });
        chat.AddUser("What is <image> here?", AnImage);

        var t = model.Tokenizer;
        var expected = chat.Template.EncodeMessage(ChatRole.User, [
            new MessagePiece("<image_id>0</image_id><image><unk><unk><unk></image><slice><unk><unk></slice>", true),
            new MessagePiece("\nWhat is <image> here?", false)]);
        Assert.Equal(expected, chat.Tokens.TakeLast(expected.Length));
        // The user's literal "<image>" stays text: exactly one <image> id and one <slice> id in the conversation.
        Assert.Single(chat.Tokens, id => id == t.TokenToId("<image>"));
        Assert.Single(chat.Tokens, id => id == t.TokenToId("<slice>"));
        Assert.Equal(5, chat.Tokens.Count(id => id == t.TokenToId("<unk>")));
        Assert.Equal([0], encoder.ImageIndices);
    }

    [Fact]
    public void TagsAndMediaThatDisagreeAreRefusedAndTheSessionIsUnchanged()
    {
        using var model = Load();
        using var chat = model.CreateChat(new ChatSessionOptions { MediaEncoder = new StandInEncoder(model.Config.HiddenSize) });
        var before = chat.Tokens.ToArray();
        Assert.Throws<MediaPromptException>(() => chat.AddUser("(<image>./</image>) and (<image>./</image>)", AnImage));
        Assert.Throws<MediaPromptException>(() => chat.AddUser("(<audio>./</audio>) then", AnImage));
        Assert.Equal(before, chat.Tokens);
        Assert.Empty(chat.Messages);

        using var textOnly = model.CreateChat(new ChatSessionOptions());
        var error = Assert.Throws<MediaPromptException>(() => textOnly.AddUser("Look", AnImage));
        Assert.Contains("no vision or audio tower", error.Message);
    }

    [Fact]
    public async Task AMultiTurnConversationWithMediaEqualsOneShotGenerationOverTheSamePrompt()
    {
        using var model = Load();
        int hidden = model.Config.HiddenSize;
        var encoder = new StandInEncoder(hidden);
        using var chat = model.CreateChat(new ChatSessionOptions { MediaEncoder = encoder, Generation = Greedy });
        chat.AddUser("(<image>./</image>) Describe it.", AnImage);
        await foreach (var _ in chat.StreamReplyAsync()) { }
        chat.AddUser("And this (<image>./</image>) with (<audio>./</audio>)?", AnImage, ChatMedia.AudioSamples(new float[16], 16000));

        // The same conversation as one prompt: every run re-derived from the ids and the encoder's rows.
        int[] prompt = [.. chat.Tokens, .. chat.Template.EncodeGenerationPrompt()];
        var reference = new StandInEncoder(hidden);
        var rows = new[] { reference.Encode(AnImage, 0), reference.Encode(AnImage, 1), reference.Encode(ChatMedia.AudioSamples(new float[16], 16000), 2) }
            .SelectMany(e => e.Runs).ToArray();
        var markers = new[] { ("<image>", "</image>"), ("<slice>", "</slice>"), ("<|audio_start|>", "<|audio_end|>") }
            .Select(m => (model.Tokenizer.TokenToId(m.Item1)!.Value, model.Tokenizer.TokenToId(m.Item2)!.Value)).ToArray();
        var bounds = PlaceholderRuns.Find(prompt, markers);
        Assert.Equal(5, bounds.Count);
        var runs = bounds.Select((b, i) => new EmbeddingRun(b.Start, b.End - b.Start, rows[i])).ToArray();
        var oneShot = model.CreateGenerator().Generate(new MultimodalPrompt(prompt, runs, hidden), Greedy);

        var streamed = new List<int>();
        await foreach (var token in chat.StreamReplyAsync()) streamed.Add(token.TokenId);
        Assert.Equal(oneShot.Tokens, streamed);
        Assert.Equal([0, 1], encoder.ImageIndices);
    }

    [Fact]
    public void TheRowsReachTheModel()
    {
        // Same ids, different rows in the runs → different logits; rows equal to the placeholder's own token
        // embedding → the text-only logits (up to float noise), so the rows replace exactly the run positions.
        using var model = Load();
        int hidden = model.Config.HiddenSize;
        var generator = model.CreateGenerator();
        int unk = model.Tokenizer.TokenToId("<unk>")!.Value;
        int[] prompt = [.. model.Tokenizer.Encode("Look: "), model.Tokenizer.TokenToId("<image>")!.Value, unk, unk,
            model.Tokenizer.TokenToId("</image>")!.Value, .. model.Tokenizer.Encode(" ok")];
        int start = Array.IndexOf(prompt, unk);

        float[] FirstLogits(MultimodalPrompt p)
        {
            float[]? first = null;
            generator.Generate(p, Greedy with { MaxNewTokens = 1 }, (step, logits) => { first ??= logits.ToArray(); });
            return first!;
        }

        var textOnly = FirstLogits(MultimodalPrompt.TextOnly(prompt));
        float[] unkRow = EmbeddingRow(model, unk, hidden);
        var sameRows = FirstLogits(new MultimodalPrompt(prompt, [new EmbeddingRun(start, 2, unkRow.Concat(unkRow).ToArray())], hidden));
        var otherRows = FirstLogits(new MultimodalPrompt(prompt, [new EmbeddingRun(start, 2, Enumerable.Repeat(0.5f, 2 * hidden).ToArray())], hidden));

        double scale = textOnly.Max(Math.Abs);
        Assert.True(textOnly.Zip(sameRows).Max(p => Math.Abs(p.First - p.Second)) <= 1e-5 * scale);
        Assert.True(textOnly.Zip(otherRows).Max(p => Math.Abs(p.First - p.Second)) > 1e-2 * scale);
    }

    private float[] EmbeddingRow(MiniCpm model, int id, int hidden)
    {
        using var checkpoint = Checkpoint.Open(tiny.Path);
        var row = new float[hidden];
        MiniCPM.Engine.Weights.WeightReader.ReadRows(checkpoint.Tensors, checkpoint.Weights.Find(MiniCPM.Engine.Weights.WeightNames.TokenEmbedding)!, id, 1, row);
        return row;
    }
}
