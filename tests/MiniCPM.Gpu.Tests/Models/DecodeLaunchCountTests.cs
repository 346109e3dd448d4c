using MiniCPM.Engine;
using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>
/// Kernel launches per forward pass of the GPU decoder, counted by <see cref="MiniCPM.Kernels.Gpu.GpuKernels.Launches"/>
/// (deterministic, so asserted exactly). Per layer: norm, q|k|v, RoPE+cache, attention, o, norm, gate|up, SiLU·mul,
/// down = 9; with int8 activations the norms and SiLU·mul quantize what they write, and only the attention output
/// keeps a quantize launch: 10. Around the layers: embedding gather, final norm (quantizing too when the lm_head reads
/// int8), lm_head = 3.
/// </summary>
[Collection(Simulator.Name)]
public sealed class DecodeLaunchCountTests(SimulatorDevice simulator)
{
    private const int Layers = 2;

    /// <summary>A tiny shape (the simulator is slow); the vocabulary cut below the synthetic tokenizer's minimum, as no text is made.</summary>
    private static readonly LlmConfig Config = SyntheticModelSpec.Create("launches", hidden: 32, layers: Layers, heads: 2, kvHeads: 1,
        intermediate: 32, vocab: 260, tieEmbeddings: false).Llm with { VocabSize = 16 };

    [Fact]
    public void Int8DecodeAndPrefill()
    {
        // One row (a decode step; its position does not change the launches): 10 per layer + 3.
        var kernels = simulator.Device.Kernels;
        using var model = Qwen2GpuModel.Random(simulator.Device, Config, TensorType.Q8_0, new Qwen2GpuOptions { Activations = ActivationPrecision.Int8, KvCacheTokens = 64 });
        long before = kernels.Launches;
        model.Forward([new ForwardRequest { Sequence = model.CreateSequence(), Tokens = new[] { 3 } }]);
        Assert.Equal(10 * Layers + 3, kernels.Launches - before);

        // Five rows: more than the int8 kernels take, so the layers run the float path (9 each); the lm_head reads
        // only the last row, as int8, quantized by the final norm: 9 per layer + 3.
        before = kernels.Launches;
        model.Forward([new ForwardRequest { Sequence = model.CreateSequence(), Tokens = new[] { 1, 2, 3, 4, 5 } }]);
        Assert.Equal(9 * Layers + 3, kernels.Launches - before);
    }

    [Fact]
    public void FloatDecode()
    {
        var kernels = simulator.Device.Kernels;
        using var model = Qwen2GpuModel.Random(simulator.Device, Config, TensorType.Q8_0, new Qwen2GpuOptions { Activations = ActivationPrecision.Float32, KvCacheTokens = 64 });
        long before = kernels.Launches;
        model.Forward([new ForwardRequest { Sequence = model.CreateSequence(), Tokens = new[] { 3 } }]);
        Assert.Equal(9 * Layers + 3, kernels.Launches - before);
    }
}
