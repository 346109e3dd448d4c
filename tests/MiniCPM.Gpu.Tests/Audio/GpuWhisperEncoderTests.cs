using MiniCPM.Engine;
using MiniCPM.Engine.Audio;
using MiniCPM.Engine.Audio.Gpu;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Audio;

/// <summary>
/// MiniCPM-o's audio path on the GPU backend against the CPU one: a micro Whisper (d 64, one layer of two 32-wide
/// heads) on a synthetic folder whose 0.2 s attention chunks (10 encoder frames) put five block-causal chunks into a
/// 1 s clip (full attention is the same kernels with no chunk, as SigLIP runs them); the model API putting the audio encoder on the model's device; the typed refusal of a
/// shape the kernels cannot take. On the simulator each thread group of the attention and norm kernels costs a good
/// fraction of a second, so the golden `audio` case (2 layers, 100 frames: about 3 minutes there, where it passed
/// every tensor) runs with the other golden cases where CUDA is present (<see cref="Models.GoldenCasesOnGpuTests"/>).
/// </summary>
[Collection(Simulator.Name)]
public sealed class GpuWhisperEncoderTests(SimulatorDevice simulator) : IDisposable
{
    private readonly GpuDevice _device = simulator.Device;
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TheGpuEmbedderMatchesTheCpuEmbedderWithChunkedAttention()
    {
        string folder = Path.Combine(_dir, "micro-o");
        var spec = SyntheticModelSpec.Preset("tiny-o") with
        {
            Audio = SyntheticModelSpec.WhisperShape(dModel: 64, layers: 1, heads: 2) with { ChunkLengthSeconds = 0.2 },
        };
        SyntheticModel.WriteHfFolder(spec, folder, TensorType.BF16, seed: 5);
        using var checkpoint = Checkpoint.Open(folder);
        using var cpu = new AudioEmbedder(checkpoint, new AudioEmbedderOptions { Threads = 1 });
        using var gpu = new AudioEmbedder(checkpoint, new AudioEmbedderOptions { Device = _device });
        Assert.True(gpu.OnGpu);
        Assert.False(cpu.OnGpu);
        Assert.Equal(cpu.EmbeddingWidth, gpu.EmbeddingWidth);
        Assert.Equal(10, gpu.ChunkFrames);

        var samples = Noise(15900, 3); // 0.99 s: 100 mel frames, 50 encoder frames (five chunks; matrix products of ≥ 48 rows), 25 tokens
        var expected = cpu.EncodePiece(samples);
        var actual = gpu.EncodePiece(samples);
        Assert.Equal((100, 50, 25), (actual.MelFrames, actual.EncoderFrames, actual.Tokens));
        Assert.Equal((expected.MelFrames, expected.EncoderFrames, expected.Tokens), (actual.MelFrames, actual.EncoderFrames, actual.Tokens));
        Assert.Equal(expected.Mel, actual.Mel); // the log-mel stays on the CPU
        AssertClose(expected.Hidden, actual.Hidden);
        AssertClose(expected.Projected, actual.Projected);
        AssertClose(expected.Pooled, actual.Pooled);

        // Embed reads back only the pooled rows: the same rows.
        Assert.Equal(actual.Pooled, gpu.Embed(new AudioClip(samples, AudioClip.WhisperSampleRate)).Rows);
    }

    [Fact]
    public void APieceTooShortForATokenGivesNoRowsAsOnTheCpu()
    {
        string folder = Path.Combine(_dir, "short-o");
        SyntheticModel.WriteHfFolder(SyntheticModelSpec.Preset("tiny-o") with { Audio = SyntheticModelSpec.WhisperShape(dModel: 64, layers: 1, heads: 2) },
            folder, TensorType.BF16, seed: 9);
        using var checkpoint = Checkpoint.Open(folder);
        using var cpu = new AudioEmbedder(checkpoint, new AudioEmbedderOptions { Threads = 1 });
        using var gpu = new AudioEmbedder(checkpoint, new AudioEmbedderOptions { Device = _device });
        var samples = Noise(100, 4); // one mel frame, one encoder frame: no pooled token
        var expected = cpu.EncodePiece(samples);
        var actual = gpu.EncodePiece(samples);
        Assert.Equal((1, 1, 0), (actual.MelFrames, actual.EncoderFrames, actual.Tokens));
        Assert.Empty(actual.Pooled);
        AssertClose(expected.Hidden, actual.Hidden);
        Assert.Throws<InvalidAudioException>(() => gpu.Embed(new AudioClip(samples, AudioClip.WhisperSampleRate)));
    }

    [Fact]
    public void TheModelPutsTheAudioEncoderOnItsDevice()
    {
        string folder = Path.Combine(_dir, "tiny-o-model");
        SyntheticModel.WriteHfFolder(SyntheticModelSpec.Preset("tiny-o"), folder, TensorType.BF16, seed: 6);
        using (var onGpu = MiniCpm.Load(folder, new MiniCpmOptions { Device = _device.IsSimulator ? "simulator" : _device.Name }))
            Assert.True(onGpu.Audio!.OnGpu);
        using var onCpu = MiniCpm.Load(folder, new MiniCpmOptions { Threads = 1 });
        Assert.False(onCpu.Audio!.OnGpu);
    }

    [Fact]
    public void AWidthTheKernelsCannotTakeIsATypedError()
    {
        string folder = Path.Combine(_dir, "odd-o");
        var spec = SyntheticModelSpec.Preset("tiny-o") with { Audio = SyntheticModelSpec.WhisperShape(dModel: 48, layers: 1, heads: 4) };
        SyntheticModel.WriteHfFolder(spec, folder, TensorType.BF16, seed: 7);
        using var checkpoint = Checkpoint.Open(folder);
        var error = Assert.Throws<GpuUnavailableException>(() => GpuWhisperEncoder.Load(checkpoint, _device));
        Assert.Contains("d_model 48 is not a multiple of 32", error.Message);
        Assert.Contains("--device cpu", error.Message);
    }

    /// <summary>Within 1e-4 of the largest |value| (float sums in another order).</summary>
    private static void AssertClose(float[] expected, float[] actual)
    {
        float max = expected.Max(MathF.Abs);
        Assert.True(max > 0);
        Check.Close(expected, actual, 1e-4 * max);
    }

    private static float[] Noise(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(0.1 * (random.NextDouble() * 2 - 1))).ToArray();
    }
}
