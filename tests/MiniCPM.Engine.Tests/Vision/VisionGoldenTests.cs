using MiniCPM.Engine.Golden;
using MiniCPM.Engine.Tests.Cli;

namespace MiniCPM.Engine.Tests.Vision;

/// <summary>
/// The golden `vision`, `resampler` and `multimodal` cases (HF transformers / torch references) through the API and
/// through `minicpm golden`: every tensor of each manifest computed and within its tolerance, nothing skipped, ids and
/// the greedy continuation exact.
/// </summary>
public class VisionGoldenTests
{
    public static TheoryData<string, int> Cases => new()
    {
        // case, outputs (manifest tensors that are not inputs)
        { "vision", 10 },
        { "resampler", 3 },
        { "multimodal", 6 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryTensorOfTheCasePasses(string name, int outputs)
    {
        var report = GoldenRunner.Run(TestData.GoldenCase(name), new GoldenRunOptions { Threads = 2 });
        Assert.True(report.Supported);
        foreach (var r in report.Results)
            Assert.True(r.Status is GoldenStatus.Passed or GoldenStatus.Input, $"{name}/{r.Name}: {r.Status} {r.Detail}");
        Assert.Equal((outputs, 0, 0), (report.Passed, report.Failed, report.Skipped));
        foreach (var r in report.Results.Where(r => r.Name.Contains("ids") || r.Name.Contains("bucket") || r.Name.Contains("mask")))
            Assert.True(r.Status == GoldenStatus.Input || r.MaxAbsError == 0, $"{r.Name} must be exact");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GoldenCommandPassesTheCase(string name, int outputs)
    {
        var (code, output, error) = CliRun.Run("golden", TestData.GoldenCase(name), "--threads", "1");
        Assert.True(code == 0, output + error);
        Assert.EndsWith($"golden: {outputs} passed, 0 failed", output.TrimEnd());
        Assert.Contains($"case: {name}", output);
    }

    [Fact]
    public void TheColumn29QuirkIsReproducedNotFloor()
    {
        // The vision case's second slice has 58 columns; its column 29 is in bucket 34 (floor(29·70/58) = 35).
        var report = GoldenRunner.Run(TestData.GoldenCase("vision"), new GoldenRunOptions { Threads = 1 });
        Assert.Equal(GoldenStatus.Passed, report.Results.Single(r => r.Name == "pos_bucket_cols_1").Status);
        Assert.Equal(34, MiniCPM.Engine.Vision.NavitPositionIds.Buckets(58, 70)[29]);
    }
}
