using MiniCPM.Engine;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Synthetic;
using MiniCPM.Engine.Vision;
using MiniCPM.Engine.Vision.Gpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;
using MiniCPM.Gpu.Tests.Models;

namespace MiniCPM.Gpu.Tests.Vision;

/// <summary>
/// The GPU vision tower against the CPU <see cref="VisionTower"/> on the same synthetic MiniCPM-V files, within
/// 1e-4·max|rows|. On the simulator every thread group costs a fraction of a second (each of its threads is an OS
/// thread), so the towers there are micro: SigLIP 32 wide (2 heads of 16), one layer, an MLP of 48 (not whole
/// 32-column units: fc1/fc2 padding) besides the 588-wide patch rows (padded to 608), a one-head resampler (D 128)
/// with 4 queries, slices of 4 and 2 patches — once from the HF folder (float32, the resampler's q/k/v split out of
/// the packed in_proj, proj stored transposed) and once from the f16 mmproj GGUF. The kernels' own tests cover the
/// tile edges at larger shapes; the tiny-v preset itself (448 × 448 and 140 × 308 slices) runs where CUDA is present.
/// </summary>
[Collection(Simulator.Name)]
public sealed class GpuVisionTowerTests(SimulatorDevice simulator) : IDisposable
{
    private readonly GpuDevice _device = simulator.Device;
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static VisionSlice Slice(int height, int width, float phase)
    {
        var pixels = new float[3 * height * width];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = MathF.Sin(i * 0.37f + phase) * 0.9f;
        return new VisionSlice(pixels, height, width);
    }

    /// <summary>A micro MiniCPM-V: 32-wide SigLIP of one layer with an unaligned MLP, one-head resampler, 4 queries.</summary>
    private static SyntheticModelSpec Micro()
    {
        var spec = SyntheticModelSpec.Create("micro-v", hidden: 128, layers: 1, heads: 2, kvHeads: 1, intermediate: 128, vocab: 512, tieEmbeddings: false)
            .WithVision(hidden: 32, layers: 1, heads: 2, intermediate: 48);
        return spec with { Resampler = spec.Resampler! with { Queries = 4 } };
    }

    [Fact]
    public void MatchesTheCpuTowerOnTheHfFolder()
    {
        string folder = Path.Combine(_dir, "hf");
        SyntheticModel.WriteHfFolder(Micro(), folder, TensorType.F32, seed: 11);
        AssertSameRows(folder, [Slice(28, 28, 0)]);
    }

    [Fact]
    public void MatchesTheCpuTowerOnAnF16Mmproj()
    {
        string gguf = Path.Combine(_dir, "micro.gguf");
        SyntheticModel.WriteGguf(Micro(), gguf, TensorType.F16, seed: 12);
        AssertSameRows(SyntheticModel.MmprojPathFor(gguf), [Slice(14, 28, 2)]);
    }

    [CudaFact]
    public void MatchesTheCpuTowerForTheTinyVPresetOnCuda()
    {
        string folder = Path.Combine(_dir, "tiny-v");
        SyntheticModel.WriteHfFolder(SyntheticModelSpec.Preset("tiny-v"), folder, TensorType.F32, seed: 7);
        using var cuda = _device.IsCuda ? null : GpuDevice.Open("cuda"); // the shared device when the tests run on CUDA
        AssertSameRows(folder, [Slice(448, 448, 0), Slice(140, 308, 1)], cuda ?? _device);
    }

    private void AssertSameRows(string path, VisionSlice[] slices, GpuDevice? device = null)
    {
        using var cpu = VisionTower.Load(path);
        using var checkpoint = Checkpoint.Open(path);
        using var gpu = GpuVisionTower.Load(checkpoint, device ?? _device);
        Assert.Equal((cpu.RowsPerSlice, cpu.RowWidth), (gpu.RowsPerSlice, gpu.RowWidth));
        var expected = cpu.Embed(slices);
        var actual = gpu.Embed(slices);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float max = expected[i].Max(MathF.Abs);
            Assert.True(max > 0.1f, "the reference rows are not trivially small");
            Check.Close(expected[i], actual[i], 1e-4 * max);
        }
    }

    /// <summary>The tower's halves alone, as the golden `vision` and `resampler` cases load them: the encoder's input
    /// and output rows against the CPU encoder's, the resampler fed the CPU encoder's features against the CPU
    /// resampler; bad resampler input is refused as on the CPU.</summary>
    [Fact]
    public void TheEncoderAndTheResamplerRunAloneAsTheCpuHalvesDo()
    {
        string folder = Path.Combine(_dir, "halves");
        SyntheticModel.WriteHfFolder(Micro(), folder, TensorType.F32, seed: 17);
        using var checkpoint = Checkpoint.Open(folder);
        var slice = Slice(14, 28, 1);
        var cpuEncoder = SiglipEncoder.Load(checkpoint);
        using var gpuEncoder = GpuSiglipEncoder.Load(checkpoint, _device);
        AssertClose(cpuEncoder.Embed(slice), gpuEncoder.Embed(slice));
        var features = cpuEncoder.Encode(slice);
        AssertClose(features, gpuEncoder.Encode(slice));

        var cpuResampler = Resampler.Load(checkpoint);
        using var gpuResampler = GpuResampler.Load(checkpoint, _device);
        AssertClose(cpuResampler.Apply(features, 1, 2), gpuResampler.Apply(features, 1, 2));
        Assert.Throws<VisionInputException>(() => gpuResampler.Apply(features, 2, 2));
        Assert.Throws<VisionInputException>(() => gpuResampler.Apply(features, 0, 2));
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        float max = expected.Max(MathF.Abs);
        Assert.True(max > 0.1f, "the reference rows are not trivially small");
        Check.Close(expected, actual, 1e-4 * max);
    }

    [Fact]
    public void RejectsBadSlicesBeforeAnyWorkAsTheCpuTowerDoes()
    {
        var spec = Micro();
        using var gpu = GpuVisionTower.Random(_device, spec.Vision!, spec.Resampler!, TensorType.F16);
        Assert.Throws<ArgumentNullException>(() => gpu.Embed((VisionSlice)null!));
        var notWhole = new VisionSlice(new float[3 * 20 * 28], 20, 28);
        var e = Assert.Throws<VisionInputException>(() => gpu.Embed([Slice(14, 14, 0), notWhole]));
        Assert.Contains("not a multiple of the 14-pixel patch", e.Message);
        Assert.Throws<VisionInputException>(() => gpu.Embed(new VisionSlice(new float[5], 14, 14)));
        var tooMany = Assert.Throws<VisionInputException>(() => gpu.Embed(new VisionSlice(new float[3 * 14 * 4901 * 14], 14, 4901 * 14)));
        Assert.Contains("4901 patches", tooMany.Message);
    }

    [Fact]
    public void ATextOnlyModelHasNoTowerToLoad()
    {
        string folder = Path.Combine(_dir, "text");
        SyntheticModel.WriteHfFolder(SyntheticModelSpec.Preset("tiny"), folder, TensorType.F32, seed: 14);
        using var checkpoint = Checkpoint.Open(folder);
        Assert.Throws<NoVisionTowerException>(() => GpuVisionTower.Load(checkpoint, _device));
    }

    [Fact]
    public void MiniCpmLoadPutsTheTowerOnTheChosenDevice()
    {
        string gguf = Path.Combine(_dir, "facade.gguf");
        SyntheticModel.WriteGguf(Micro(), gguf, TensorType.F16, seed: 15);
        var options = new MiniCpmOptions { Device = "simulator", MmprojPath = SyntheticModel.MmprojPathFor(gguf), KvCacheTokens = 64 };
        using (var model = MiniCpm.Load(gguf, options))
        {
            Assert.IsType<GpuVisionTower>(model.VisionEncoder);
            Assert.Null(model.Vision); // the CPU tower's property
            Assert.True(model.MediaEncoder!.HasVision);
        }
        using var onCpu = MiniCpm.Load(gguf, options with { Device = "cpu" });
        Assert.IsType<VisionTower>(onCpu.VisionEncoder);
        Assert.Same(onCpu.VisionEncoder, onCpu.Vision);
    }

    [Fact]
    public void AnUnusableDeviceIsTheEnginesTypedError()
    {
        string folder = Path.Combine(_dir, "hf");
        SyntheticModel.WriteHfFolder(Micro(), folder, TensorType.F32, seed: 16);
        var e = Assert.Throws<GpuUnavailableException>(() => GpuVisionTower.Load(folder, "cuda:99"));
        Assert.Contains("--device cpu", e.Message);
    }
}
