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
/// The `llm` golden case (HF logits, greedy continuation, cache reuse, per-layer hidden states of the tiny Qwen2)
/// through the GPU decoder, judged with the manifest's tolerances exactly as the CPU backend is. CUDA only: on ILGPU's
/// CPU simulator one thread group costs about a second here, and even the prefill of this 2-layer model launches
/// thousands of groups (tried: over 15 minutes), so the simulator covers the kernels one by one instead.
/// </summary>
/// <remarks>In the shared device's collection so that no two CUDA contexts of this process work at once: with test
/// collections in parallel on an H200 the run once hung (never seen sequentially).</remarks>
[Collection(Simulator.Name)]
public sealed class GoldenLlmOnGpuTests(ITestOutputHelper output)
{
    [CudaFact]
    public void PassesOnCuda() => RunOn("cuda");

    private void RunOn(string device)
    {
        var report = GoldenRunner.Run(TestData.GoldenCase("llm"), new GoldenRunOptions { Device = device });
        foreach (var r in report.Results) output.WriteLine($"{r.Name}: {r.Status} max error {r.MaxAbsError:G3} ({r.Detail})");
        Assert.True(report.Supported);
        Assert.All(report.Results, r => Assert.True(r.Status is GoldenStatus.Passed or GoldenStatus.Input, $"{r.Name}: {r.Status} {r.Detail}"));
        Assert.Contains(report.Results, r => r.Name == "logits" && r.Status == GoldenStatus.Passed);
    }
}
