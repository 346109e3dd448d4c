using System.Text.Json;
using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Chat;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Images;
using MiniCPM.Engine.Multimodal;
using MiniCPM.Engine.Tests.Api;
using MiniCPM.Engine.Tests.Cli;
using MiniCPM.Engine.Vision;

namespace MiniCPM.Engine.Tests.Multimodal;

/// <summary>
/// Images and audio through the whole engine: file bytes → preprocessing → tower → placeholder runs → the language
/// model. The reference for each reply is the same prompt assembled by hand from the parts (placeholder layout,
/// tower rows in piece order, image_bound-style runs) and generated one-shot; the GGUF pair must equal the HF folder.
/// </summary>
public sealed class ModelMediaTests(MediaModelFixture files, TinyModelFixture textOnly)
    : IClassFixture<MediaModelFixture>, IClassFixture<TinyModelFixture>
{
    private static readonly GenerationOptions Greedy = GenerationOptions.Greedy with { MaxNewTokens = 5, StopTokenIds = [] };

    private static async Task<int[]> Reply(ChatSession chat)
    {
        var ids = new List<int>();
        await foreach (var t in chat.StreamReplyAsync()) ids.Add(t.TokenId);
        return ids.ToArray();
    }

    [Fact]
    public async Task AnImageReplyEqualsTheHandAssembledPromptAndTheGgufPairEqualsTheHfFolder()
    {
        using var hf = MiniCpm.Load(files.VisionFolder, new MiniCpmOptions { Threads = 2, KvCacheTokens = 2048 });
        Assert.NotNull(hf.Vision);
        using var chat = hf.CreateChat(new ChatSessionOptions { Generation = Greedy });
        chat.AddUser("Describe (<image>./</image>) briefly.", ChatMedia.ImageFile(files.Png));
        int[] reply = await Reply(chat);

        // By hand: slice, embed every piece, lay out the placeholder, find the runs, generate one-shot.
        var slicing = hf.MediaEncoder!.Slicing;
        var pre = new ImagePreprocessor(slicing).Preprocess(ImageDecoder.Decode(files.Png));
        Assert.True(pre.Pieces.Count > 2, $"the 700×300 image should be sliced, got {pre.Pieces.Count} pieces");
        var rows = hf.Vision!.Embed(pre.Pieces.Select(p => new VisionSlice(p.Pixels, p.Height, p.Width)).ToArray());
        var placeholder = ImagePlaceholderLayout.Build(pre.Plan, 0, ImagePromptOptions.ForImages(slicing));
        var template = chat.Template;
        int[] prompt =
        [
            .. template.EncodePreamble(ChatMessage.User("")),
            .. template.EncodeMessage(ChatRole.User, [new("Describe ", false), new(placeholder.Text, true), new(" briefly.", false)]),
            .. template.EncodeGenerationPrompt(),
        ];
        var markers = new[] { ("<image>", "</image>"), ("<slice>", "</slice>") }
            .Select(m => (hf.Tokenizer.TokenToId(m.Item1)!.Value, hf.Tokenizer.TokenToId(m.Item2)!.Value)).ToArray();
        var bounds = PlaceholderRuns.Find(prompt, markers);
        Assert.Equal(pre.Pieces.Count, bounds.Count);
        var runs = bounds.Select((b, i) => new EmbeddingRun(b.Start, b.End - b.Start, rows[i])).ToArray(); // pieces come overview, then row-major
        var oneShot = hf.CreateGenerator().Generate(new MultimodalPrompt(prompt, runs, hf.Config.HiddenSize), Greedy);
        Assert.Equal(oneShot.Tokens, reply);

        using var pair = MiniCpm.Load(files.VisionGguf, new MiniCpmOptions { Threads = 2, KvCacheTokens = 2048, MmprojPath = files.Mmproj });
        using var pairChat = pair.CreateChat(new ChatSessionOptions { Generation = Greedy });
        pairChat.AddUser("Describe (<image>./</image>) briefly.", ChatMedia.ImageFile(files.Png));
        Assert.Equal(reply, await Reply(pairChat));
    }

    [Fact]
    public async Task VideoFramesAndASecondImageGetTheirOwnLayout()
    {
        using var model = MiniCpm.Load(files.VisionFolder, new MiniCpmOptions { Threads = 2, KvCacheTokens = 4096 });
        using var chat = model.CreateChat(new ChatSessionOptions { Generation = Greedy });
        byte[] png = File.ReadAllBytes(files.Png);
        var frames = ChatMedia.VideoFrames([png, png], maxSlicesPerFrame: 1);
        chat.AddUser("What happens?", [.. frames]);
        var t = model.Tokenizer;
        // Video frames: no <image_id>, one piece each (overview only).
        Assert.DoesNotContain(t.TokenToId("<image_id>")!.Value, chat.Tokens);
        Assert.Equal(2, chat.Tokens.Count(id => id == t.TokenToId("<image>")));
        Assert.DoesNotContain(t.TokenToId("<slice>")!.Value, chat.Tokens);
        await Reply(chat);

        chat.AddUser("And this?", ChatMedia.ImageFile(files.Png));
        // HF numbers every image of the conversation (enumerate(images)), frames included: the still image is the third.
        int idStart = chat.Tokens.ToList().IndexOf(t.TokenToId("<image_id>")!.Value);
        Assert.Equal(t.Encode("2", allowSpecial: false)[0], chat.Tokens[idStart + 1]);
    }

    [Fact]
    public async Task AudioReplyEqualsTheHandAssembledPrompt()
    {
        using var model = MiniCpm.Load(files.AudioFolder, new MiniCpmOptions { Threads = 2, KvCacheTokens = 2048 });
        Assert.NotNull(model.Audio);
        Assert.Null(model.Vision);
        using var chat = model.CreateChat(new ChatSessionOptions { Generation = Greedy });
        chat.AddUser("Transcribe:", ChatMedia.AudioFile(files.Wav));
        int[] reply = await Reply(chat);

        var embedding = model.Audio!.Embed(WavReader.Read(files.Wav));
        var template = chat.Template;
        int[] prompt =
        [
            .. template.EncodePreamble(ChatMessage.User("")),
            .. template.EncodeMessage(ChatRole.User, [new(embedding.Layout.Text, true), new("\nTranscribe:", false)]),
            .. template.EncodeGenerationPrompt(),
        ];
        var marker = (model.Tokenizer.TokenToId("<|audio_start|>")!.Value, model.Tokenizer.TokenToId("<|audio_end|>")!.Value);
        var bounds = PlaceholderRuns.Find(prompt, [marker]);
        Assert.Equal(embedding.Layout.Runs.Count, bounds.Count);
        var runs = new List<EmbeddingRun>();
        int row = 0;
        foreach (var (start, end) in bounds)
        {
            runs.Add(new EmbeddingRun(start, end - start, embedding.Rows.AsMemory(row * embedding.Width, (end - start) * embedding.Width)));
            row += end - start;
        }
        Assert.Equal(embedding.Tokens, row);
        var oneShot = model.CreateGenerator().Generate(new MultimodalPrompt(prompt, runs, model.Config.HiddenSize), Greedy);
        Assert.Equal(oneShot.Tokens, reply);
    }

    [Fact]
    public void MediaTheModelCannotTakeAreTypedErrors()
    {
        using (var text = MiniCpm.Load(textOnly.Path, new MiniCpmOptions { Threads = 1, KvCacheTokens = 256 }))
        using (var chat = text.CreateChat())
            Assert.Throws<MediaPromptException>(() => chat.AddUser("Look", ChatMedia.ImageFile(files.Png)));

        using (var audioOnly = MiniCpm.Load(files.AudioFolder, new MiniCpmOptions { Threads = 1, KvCacheTokens = 256 }))
        using (var chat = audioOnly.CreateChat())
            Assert.Throws<NoVisionTowerException>(() => chat.AddUser("Look", ChatMedia.ImageFile(files.Png)));

        // A GGUF without its mmproj has no eyes; the error says how to give them.
        using (var bare = MiniCpm.Load(files.VisionGguf, new MiniCpmOptions { Threads = 1, KvCacheTokens = 256 }))
        using (var chat = bare.CreateChat())
            Assert.Throws<MediaPromptException>(() => chat.AddUser("Look", ChatMedia.ImageFile(files.Png)));

        using var model = MiniCpm.Load(files.VisionFolder, new MiniCpmOptions { Threads = 1, KvCacheTokens = 256 });
        using var session = model.CreateChat();
        Assert.Throws<ImageDecodeException>(() => session.AddUser("Look", ChatMedia.ImageFile(files.CorruptPng)));
        Assert.Throws<MediaPromptException>(() => session.AddUser("Two (<image>./</image>) (<image>./</image>)", ChatMedia.ImageFile(files.Png)));
        Assert.Empty(session.Messages);
    }

    [Fact]
    public void CliGeneratesWithAnImageAndEmbedsOne()
    {
        var (code, output, error) = CliRun.Run("generate", "--model", files.VisionGguf, "--mmproj", files.Mmproj,
            "--image", files.Png, "--prompt", "What is this?", "--greedy", "--max-tokens", "3", "--threads", "2");
        Assert.True(code == 0, error);
        Assert.Contains("[finished: MaxNewTokens]", error);

        string json = Path.Combine(files.Folder, "embed.json");
        (code, _, error) = CliRun.Run("embed-image", "--model", files.VisionFolder, "--image", files.Png, "--out", json, "--threads", "2");
        Assert.True(code == 0, error);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal(700, root.GetProperty("image_width").GetInt32());
        Assert.Equal(300, root.GetProperty("image_height").GetInt32());
        var slices = root.GetProperty("slices").EnumerateArray().ToArray();
        int gridRows = root.GetProperty("grid")[0].GetInt32(), gridCols = root.GetProperty("grid")[1].GetInt32();
        Assert.Equal(1 + gridRows * gridCols, slices.Length);
        Assert.Equal("overview", slices[0].GetProperty("role").GetString());
        Assert.All(slices[1..], s => Assert.Equal("slice", s.GetProperty("role").GetString()));

        using var tower = VisionTower.Load(files.VisionFolder);
        var pre = new ImagePreprocessor(new MiniCPM.Engine.Configuration.SliceConfig()).Preprocess(ImageDecoder.Decode(files.Png));
        var expected = tower.Embed(pre.Pieces.Select(p => new VisionSlice(p.Pixels, p.Height, p.Width)).ToArray());
        for (int s = 0; s < slices.Length; s++)
        {
            var rows = slices[s].GetProperty("embeddings").EnumerateArray().ToArray();
            Assert.Equal(64, rows.Length);
            Assert.Equal(pre.Pieces[s].Width, slices[s].GetProperty("width").GetInt32());
            float[] flat = rows.SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
            Assert.Equal(expected[s], flat);
        }

        // MiniCPM-o's ASR prompt through generate --audio (chat mode, audio before the text).
        (code, _, error) = CliRun.Run("generate", "--model", files.AudioFolder, "--audio", files.Wav,
            "-p", "Please listen to the audio snippet carefully and transcribe the content.", "--greedy", "--max-tokens", "2");
        Assert.True(code == 0, error);
        Assert.Contains("[finished: MaxNewTokens]", error);

        (code, _, error) = CliRun.Run("embed-image", "--model", files.VisionFolder, "--image", files.CorruptPng);
        Assert.Equal(1, code);
        Assert.Contains("corrupt.png", error);
        (code, _, error) = CliRun.Run("generate", "--model", files.VisionFolder, "--image", Path.Combine(files.Folder, "missing.png"), "--prompt", "x");
        Assert.Equal(2, code);
        Assert.Contains("missing.png", error);
    }
}
