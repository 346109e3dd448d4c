using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Golden;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Tests.Cli;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Tests.Audio;

/// <summary>
/// The whole audio path: the golden `audio` case (HF WhisperFeatureExtractor + WhisperEncoder modules) through the API
/// and `minicpm golden`, long audio cut into 30 s pieces, a WAV at another rate, and the typed errors for audio the
/// model cannot take.
/// </summary>
public class AudioEmbedderTests : IClassFixture<AudioEmbedderTests.TinyO>
{
    private readonly TinyO _model;

    public AudioEmbedderTests(TinyO model) => _model = model;

    /// <summary>One tiny-o folder for the class (written once, a few hundred kB).</summary>
    public sealed class TinyO : IDisposable
    {
        public string Folder { get; } = Path.Combine(TestData.TempDirectory(), "tiny-o");

        public TinyO() => SyntheticModel.WriteHfFolder(SyntheticModelSpec.Preset("tiny-o"), Folder, TensorType.BF16, seed: 7);

        public void Dispose() => Directory.Delete(Path.GetDirectoryName(Folder)!, recursive: true);
    }

    [Fact]
    public void GoldenAudioCasePassesEveryTensor()
    {
        var report = GoldenRunner.Run(TestData.GoldenCase("audio"), new GoldenRunOptions { Threads = 2 });
        Assert.True(report.Supported);
        foreach (var result in report.Results.Where(r => r.Status != GoldenStatus.Input))
            Assert.True(result.Status == GoldenStatus.Passed, $"{result.Name}: {result.Status} {result.Detail}");
        Assert.Equal((9, 0, 0), (report.Passed, report.Failed, report.Skipped));
        Assert.Equal(GoldenStatus.Input, report.Results.Single(r => r.Name == "waveform").Status);
    }

    [Fact]
    public void GoldenCommandRunsTheAudioCase()
    {
        var (code, output, error) = CliRun.Run("golden", TestData.GoldenCase("audio"), "--threads", "1");
        Assert.True(code == 0, output + error);
        Assert.EndsWith("golden: 9 passed, 0 failed", output.TrimEnd());
        Assert.Contains(output.Split('\n'), l => l.StartsWith("encoder_hidden_chunked") && l.Contains(" pass"));
    }

    [Fact]
    public void ChunkedAndFullAttentionDifferOnlyAfterTheFirstChunk()
    {
        // Frames of the first 1 s chunk see only that chunk under the block-causal mask, and everything under full
        // attention: outputs differ. With fewer than 50 encoder frames (< 1 s) the two masks are the same.
        using var checkpoint = Checkpoint.Open(TestData.GoldenCase("audio") + "/model.safetensors");
        using var chunked = new AudioEmbedder(checkpoint, new AudioEmbedderOptions { Threads = 1 });
        using var full = new AudioEmbedder(checkpoint, new AudioEmbedderOptions { Threads = 1, FullAttention = true });
        var shortClip = Noise(12000, 1);
        Assert.Equal(chunked.EncodePiece(shortClip).Hidden, full.EncodePiece(shortClip).Hidden);
        var longClip = Noise(32000, 2);
        Assert.NotEqual(chunked.EncodePiece(longClip).Hidden, full.EncodePiece(longClip).Hidden);
    }

    [Fact]
    public void AudioLongerThan30SecondsIsEncodedInPieces()
    {
        using var embedder = AudioEmbedder.Load(_model.Folder, new AudioEmbedderOptions { Threads = 2 });
        var samples = Noise(480000 + 16000, 3); // 31 s
        var embedding = embedder.Embed(new AudioClip(samples, 16000));
        Assert.Equal(750 + 25, embedding.Tokens);
        Assert.Equal(embedding.Layout.Rows, embedding.Tokens);
        Assert.Equal(31, embedding.Layout.Runs.Count);
        Assert.Equal(64, embedding.Width);
        // The second piece is encoded on its own: its rows equal that piece's embeddings.
        var second = embedder.EncodePiece(samples.AsSpan(480000));
        Assert.Equal(second.Pooled, embedding.Rows.AsSpan(750 * 64).ToArray());
        Assert.All(embedding.Rows, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void AWavAtAnotherRateIsResampledFirst()
    {
        var tone = Enumerable.Range(0, 44100).Select(i => 0.3 * Math.Sin(2 * Math.PI * 440 * i / 44100)).ToArray();
        var clip = WavReader.Read(WavFiles.Write(tone, 1, 44100, WavFiles.Kind.Pcm16));
        using var embedder = AudioEmbedder.Load(_model.Folder, new AudioEmbedderOptions { Threads = 1 });
        var embedding = embedder.Embed(clip);
        Assert.Equal(25, embedding.Tokens); // 1 s at 44.1 kHz → 16000 samples → 25 tokens
        Assert.Equal(embedder.Embed(clip.ToWhisperRate()).Rows, embedding.Rows);
    }

    [Fact]
    public void AudioLongerThanTheContextSaysHowManyTokensItNeeds()
    {
        using var embedder = AudioEmbedder.Load(_model.Folder, new AudioEmbedderOptions { Threads = 1 });
        var clip = new AudioClip(new float[40000], 16000); // 2.5 s: 62 tokens + 3 × 2 markers
        var error = Assert.Throws<AudioTooLongException>(() => embedder.Embed(clip, contextTokens: 60));
        Assert.Equal((68, 60), (error.TokensNeeded, error.TokensAvailable));
        Assert.Contains("needs 68 prompt tokens", error.Message);
        Assert.Equal(62, embedder.Embed(clip, contextTokens: 68).Tokens);
    }

    [Fact]
    public void AudioTooShortForATokenIsATypedError()
    {
        using var embedder = AudioEmbedder.Load(_model.Folder, new AudioEmbedderOptions { Threads = 1 });
        var error = Assert.Throws<InvalidAudioException>(() => embedder.Embed(new AudioClip(new float[320], 16000)));
        Assert.Contains("too short", error.Message);
    }

    [Fact]
    public void ACheckpointWithoutAudioIsRefused()
    {
        string folder = Path.Combine(Path.GetDirectoryName(_model.Folder)!, "text-only");
        SyntheticModel.WriteHfFolder(SyntheticModelSpec.Preset("tiny"), folder, TensorType.BF16);
        var error = Assert.Throws<ModelFormatException>(() => AudioEmbedder.Load(folder));
        Assert.Contains("no audio encoder", error.Message);
    }

    [Fact]
    public void InfoDescribesTheAudioEncoder()
    {
        var (code, output, _) = CliRun.Run("info", _model.Folder);
        Assert.Equal(0, code);
        Assert.Contains("model:        MiniCPM-o 2.6", output);
        Assert.Contains("audio:      Whisper encoder d_model 64, layers 2, heads 4 × 16, ffn 256", output);
        Assert.Contains("25 tokens per second", output);
        Assert.Contains("0 not recognised", output);
    }

    private static float[] Noise(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(0.1 * (random.NextDouble() * 2 - 1))).ToArray();
    }
}
