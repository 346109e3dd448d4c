using MiniCPM.Engine;
using MiniCPM.Engine.Conversion;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>
/// A small random Qwen2 quantized as Q4_K_M (llama.cpp's mix: Q4_K, Q6_K for the output and some attn_v/ffn_down) or
/// Q5_K_M (Q5_K for Q4_K), decoded on the GPU (simulator) with int8 activations — the K-quant int8 kernels and the
/// split-K decode attention inside a real forward pass — and held to the int8 rounding budget of the CPU float decoder, as
/// <see cref="QuantizedDecodeOnGpuTests"/> does for Q4_0/Q8_0. Rows are 256 wide (one super-block), the smallest
/// K-quant shape; one layer and one token keep the simulator's ~75 ms per group affordable.
/// </summary>
[Collection(Simulator.Name)]
public sealed class KQuantDecodeOnGpuTests(SimulatorDevice simulator) : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    [Theory]
    [InlineData("Q4_K_M", TensorType.Q4_K)]
    [InlineData("Q5_K_M", TensorType.Q5_K)]
    public void KQuantMixInt8DecodeStaysWithinTheInt8RoundingOfTheFloatModel(string scheme, TensorType mainType)
    {
        string source = Path.Combine(_dir, "f32.gguf"), path = Path.Combine(_dir, $"{scheme}.gguf");
        SyntheticModel.WriteGguf(SyntheticModelSpec.Create("gpu-kquant-test", hidden: 256, layers: 1, heads: 4, kvHeads: 2,
            intermediate: 256, vocab: 264, tieEmbeddings: false), source, TensorType.F32, seed: 11);
        GgufQuantizer.Quantize(source, path, QuantizationScheme.Parse(scheme));
        using (var file = GgufFile.Open(path))
        {
            var types = file.Tensors.Select(t => t.Type).ToHashSet();
            Assert.Contains(mainType, types);
            Assert.Contains(TensorType.Q6_K, types);
        }

        using var reference = Qwen2Model.Load(path, new Qwen2Options { Activations = ActivationPrecision.Float32 });
        using var gpu = Qwen2GpuModel.Load(path, simulator.Device, new Qwen2GpuOptions { Activations = ActivationPrecision.Int8 });
        var expected = Run(reference);
        var actual = Run(gpu);
        float scale = expected.Max(MathF.Abs);
        double cost = actual.Zip(expected, (x, y) => Math.Abs(x - y)).Max() / scale;
        // Different from the float model (the int8 path ran), within the int8 budget the Q4_0/Q8_0 test uses.
        Assert.InRange(cost, 1e-5, 3e-2);
    }

    /// <summary>
    /// Q5_K_M (Q5_K, Q6_K for the output and some attn_v/ffn_down) with float activations: the Q5_K row format inside
    /// a forward pass makes the CPU decoder's products in another summation order, so the logits agree to float
    /// rounding (the Q4_0/Q8_0 float test's tolerance).
    /// </summary>
    [Fact]
    public void Q5_K_MFloatDecodeMatchesTheCpuDecoder()
    {
        string source = Path.Combine(_dir, "f32.gguf"), path = Path.Combine(_dir, "q5_k_m.gguf");
        SyntheticModel.WriteGguf(SyntheticModelSpec.Create("gpu-q5k-test", hidden: 256, layers: 1, heads: 4, kvHeads: 2,
            intermediate: 256, vocab: 264, tieEmbeddings: false), source, TensorType.F32, seed: 13);
        GgufQuantizer.Quantize(source, path, QuantizationScheme.Parse("Q5_K_M"));
        using (var file = GgufFile.Open(path))
            Assert.Contains(TensorType.Q5_K, file.Tensors.Select(t => t.Type));

        using var cpu = Qwen2Model.Load(path, new Qwen2Options { Activations = ActivationPrecision.Float32 });
        using var gpu = Qwen2GpuModel.Load(path, simulator.Device, new Qwen2GpuOptions { Activations = ActivationPrecision.Float32 });
        var expected = Run(cpu);
        var actual = Run(gpu);
        float scale = expected.Max(MathF.Abs);
        Check.Close(expected, actual, absolute: 2e-5 * scale);
    }

    /// <summary>One decode-shaped step (a one-token sequence): ~225 groups at this shape, ~17 s on the simulator;
    /// the split attention over several chunks is the kernel tests' job.</summary>
    private static float[] Run(ILanguageModel model)
    {
        var step = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = new[] { 42 } };
        model.Forward([step]);
        return step.Logits!;
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
