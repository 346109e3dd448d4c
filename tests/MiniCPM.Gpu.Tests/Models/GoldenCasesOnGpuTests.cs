using System.Runtime.CompilerServices;
using MiniCPM.Engine.Golden;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>A fact that runs only where a CUDA device is present; elsewhere it is skipped with the reason.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> SkipReason = new(() =>
        GpuDevice.CudaAvailable(out string reason) ? null : "no CUDA device: " + reason);

    public CudaFactAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber) => Skip = SkipReason.Value;
}

/// <summary>
/// The golden cases through the GPU backend, judged with the manifests' tolerances exactly as the CPU backend is:
/// `llm` (HF logits, greedy continuation, cache reuse, per-layer hidden states of the tiny Qwen2) through the GPU
/// decoder, `vision` through <see cref="Engine.Vision.Gpu.GpuSiglipEncoder"/>, `resampler` through
/// <see cref="Engine.Vision.Gpu.GpuResampler"/>, `audio` through <see cref="Engine.Audio.Gpu.GpuWhisperEncoder"/>. CUDA only: on ILGPU's CPU simulator one thread group costs about a
/// second here, and even the prefill of the 2-layer LLM launches thousands of groups (tried: over 15 minutes), so the
/// simulator covers the kernels one by one and the models at micro shapes instead.
/// </summary>
/// <remarks>In the shared device's collection so that no two CUDA contexts of this process work at once: with test
/// collections in parallel on an H200 the run once hung (never seen sequentially).</remarks>
[Collection(Simulator.Name)]
public sealed class GoldenCasesOnGpuTests(ITestOutputHelper output)
{
    [CudaFact]
    public void LlmPassesOnCuda() => RunOn("llm", "logits");

    [CudaFact]
    public void VisionPassesOnCuda() => RunOn("vision", "vision_hidden_1");

    [CudaFact]
    public void ResamplerPassesOnCuda() => RunOn("resampler", "output");

    [CudaFact]
    public void AudioPassesOnCuda() => RunOn("audio", "audio_embeds_chunked");

    private void RunOn(string goldenCase, string mainOutput)
    {
        var report = GoldenRunner.Run(TestData.GoldenCase(goldenCase), new GoldenRunOptions { Device = "cuda" });
        foreach (var r in report.Results) output.WriteLine($"{r.Name}: {r.Status} max error {r.MaxAbsError:G3} ({r.Detail})");
        Assert.True(report.Supported);
        Assert.All(report.Results, r => Assert.True(r.Status is GoldenStatus.Passed or GoldenStatus.Input, $"{r.Name}: {r.Status} {r.Detail}"));
        Assert.Contains(report.Results, r => r.Name == mainOutput && r.Status == GoldenStatus.Passed);
    }
}
