using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>
/// Sampled generation with MiniCPM's chat settings (temperature 0.7, top-k 100, top-p 0.8, repetition penalty 1.05)
/// on the GPU decoder: choosing from the device's top-k candidates gives the tokens that choosing from the whole
/// logits rows gives, on the same passes. One-layer random model (the simulator spends seconds per pass).
/// </summary>
[Collection(Simulator.Name)]
public sealed class SampledDecodeOnGpuTests(SimulatorDevice simulator) : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void CandidatesGiveTheWholeRowsTokens()
    {
        string path = Path.Combine(_dir, "sampled.gguf");
        SyntheticModel.WriteGguf(SyntheticModelSpec.Create("sampled-test", hidden: 32, layers: 1, heads: 1, kvHeads: 1,
            intermediate: 64, vocab: 264, tieEmbeddings: false), path, TensorType.F32, seed: 8);
        var options = new GenerationOptions { MaxNewTokens = 5, Seed = 11 };
        int[] prompt = [5, 17, 42, 5];

        int[] Generate(bool candidates, out long steps)
        {
            using var gpu = Qwen2GpuModel.Load(path, simulator.Device, new Qwen2GpuOptions
            {
                Activations = ActivationPrecision.Float32, KvCacheTokens = 64,
            });
            gpu.LogitCandidates = candidates;
            var tokens = new Generator(gpu).Generate(prompt, options).Tokens;
            steps = gpu.CandidateSteps;
            return tokens;
        }

        var expected = Generate(candidates: false, out long none);
        var actual = Generate(candidates: true, out long steps);
        Assert.True(expected.Length >= 3, $"only {expected.Length} tokens");
        Assert.Equal(0, none);
        Assert.Equal(expected.Length - 1, steps); // every step after the prompt's
        Assert.Equal(expected, actual);
    }
}
