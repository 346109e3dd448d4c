using MiniCPM.Engine.Golden;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Gpu;
using Xunit.Abstractions;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary>A fact that runs only where a CUDA device is present; elsewhere it is skipped with the reason.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> SkipReason = new(() =>
        GpuDevice.CudaAvailable(out string reason) ? null : "no CUDA device: " + reason);

    public CudaFactAttribute() => Skip = SkipReason.Value;
}

/// <summary>
/// The `llm` golden case (HF logits, greedy continuation, cache reuse, per-layer hidden states of the tiny Qwen2)
/// through the GPU decoder, judged with the manifest's tolerances exactly as the CPU backend is. The whole case runs
/// on CUDA; on ILGPU's CPU simulator (hundreds of launches would take many minutes) the prompt's prefill logits are
/// checked against the same expected tensor and tolerance.
/// </summary>
public sealed class GoldenLlmOnGpuTests(ITestOutputHelper output)
{
    [CudaFact]
    public void PassesOnCuda() => RunOn("cuda");

    [Fact]
    public void PrefillLogitsPassOnTheCpuSimulator()
    {
        using var goldenCase = GoldenCase.Open(TestData.GoldenCase("llm"));
        int[] prompt = goldenCase.ReadInts("input_ids");
        using var model = Qwen2GpuModel.Load(goldenCase.WeightsPath, new Qwen2GpuOptions { Device = "simulator", KvCacheTokens = 64 });
        var request = new ForwardRequest { Sequence = model.CreateSequence(), Tokens = prompt, AllLogits = true };
        model.Forward([request]);

        var expected = goldenCase.ReadFloats("logits").Select(v => (double)v).ToArray();
        var actual = request.Logits!.AsSpan(0, expected.Length).ToArray().Select(v => (double)v).ToArray();
        var result = GoldenRunner.Compare("logits", actual, expected, goldenCase.Manifest.Find("logits")!.Tolerance);
        output.WriteLine($"{result.Name}: {result.Status} max error {result.MaxAbsError:G3} ({result.Detail})");
        Assert.Equal(GoldenStatus.Passed, result.Status);
    }

    private void RunOn(string device)
    {
        var report = GoldenRunner.Run(TestData.GoldenCase("llm"), new GoldenRunOptions { Device = device });
        foreach (var r in report.Results) output.WriteLine($"{r.Name}: {r.Status} max error {r.MaxAbsError:G3} ({r.Detail})");
        Assert.True(report.Supported);
        Assert.All(report.Results, r => Assert.True(r.Status is GoldenStatus.Passed or GoldenStatus.Input, $"{r.Name}: {r.Status} {r.Detail}"));
        Assert.Contains(report.Results, r => r.Name == "logits" && r.Status == GoldenStatus.Passed);
    }
}
