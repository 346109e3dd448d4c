using System.Text.Json;
using System.Text.Json.Nodes;
using MiniCPM.Engine.Tests.Cli;
using MiniCPM.Engine.Golden;

namespace MiniCPM.Engine.Tests.Golden;

/// <summary>
/// The golden `llm` case (HF transformers reference) through the runner and the `minicpm golden` command: every
/// expected tensor computed and within tolerance, the greedy continuation token-exact.
/// </summary>
public class GoldenRunnerTests : IDisposable
{
    private readonly string _dir = TestData.TempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void LlmCasePassesEveryTensorWithNothingSkipped()
    {
        var report = GoldenRunner.Run(TestData.GoldenCase("llm"), new GoldenRunOptions { Threads = 2 });
        Assert.True(report.Supported);
        var byName = report.Results.ToDictionary(r => r.Name);
        string[] outputs = ["logits", "generated_ids", "gen_step_logits", "gen_chosen_logits", "logits_2", "debug_hidden_layers"];
        foreach (var name in outputs)
            Assert.True(byName[name].Status == GoldenStatus.Passed, $"{name}: {byName[name].Status} {byName[name].Detail}");
        Assert.Equal(0, byName["generated_ids"].MaxAbsError);
        Assert.Equal(GoldenStatus.Input, byName["input_ids"].Status);
        Assert.Equal(GoldenStatus.Input, byName["input_ids_2"].Status);
        Assert.Equal((outputs.Length, 0, 0), (report.Passed, report.Failed, report.Skipped));
    }

    [Fact]
    public void GoldenCommandPrintsOneLinePerTensorAndTheSummaryLast()
    {
        var (code, output, error) = CliRun.Run("golden", TestData.GoldenCase("llm"), "--threads", "1");
        Assert.True(code == 0, output + error);
        var lines = output.TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal("golden: 6 passed, 0 failed", lines[^1]);
        Assert.Contains(lines, l => l.StartsWith("generated_ids") && l.Contains("max_abs_err 0.000e+00") && l.Contains(" pass"));
        Assert.Contains(lines, l => l.StartsWith("input_ids ") && l.EndsWith("input"));
    }

    [Fact]
    public void AMismatchIsReportedAsAFailureWithExitCode1()
    {
        // The same case, but the manifest now asks for 25 generated tokens where 24 are stored: the runner generates
        // 25 (so also 25 step logits) and those comparisons must fail on the length.
        string copy = CopyCase("llm");
        var manifestPath = Path.Combine(copy, "manifest.json");
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["tensors"]!["generated_ids"]!["shape"] = new JsonArray(25);
        File.WriteAllText(manifestPath, manifest.ToJsonString());

        var (code, output, _) = CliRun.Run("golden", copy);
        Assert.Equal(1, code);
        Assert.Contains(output.Split('\n'), l => l.StartsWith("generated_ids") && l.Contains("FAIL") && l.Contains("25 values computed, 24 expected"));
        Assert.EndsWith("golden: 3 passed, 3 failed", output.TrimEnd());
    }

    [Fact]
    public void UnsupportedCaseTypesAreReportedCleanly()
    {
        // A copy of a real case whose manifest names a case type no runner handles.
        string copy = CopyCase("vision");
        var manifestPath = Path.Combine(copy, "manifest.json");
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["case"] = "hologram";
        File.WriteAllText(manifestPath, manifest.ToJsonString());

        var report = GoldenRunner.Run(copy);
        Assert.False(report.Supported);
        Assert.Equal("hologram", report.CaseType);

        var (code, output, _) = CliRun.Run("golden", copy);
        Assert.Equal(3, code);
        Assert.Contains("unsupported case type 'hologram'", output);
        Assert.EndsWith("golden: 0 passed, 0 failed", output.TrimEnd());
    }

    [Fact]
    public void MissingCaseFolderIsAnErrorNotACrash()
    {
        var (code, _, error) = CliRun.Run("golden", Path.Combine(_dir, "nothing-here"));
        Assert.Equal(1, code);
        Assert.Contains("manifest.json", error);
    }

    [Fact]
    public void ToleranceIsAtolPlusRtolTimesExpected()
    {
        var tolerance = new GoldenTolerance(false, 1e-3, 1e-2);
        double[] expected = [10, -10, 0];
        Assert.Equal(GoldenStatus.Passed, GoldenRunner.Compare("t", [10.1, -10.1, 1e-3], expected, tolerance).Status);
        var failed = GoldenRunner.Compare("t", [10, -10, 1.5e-3], expected, tolerance);
        Assert.Equal(GoldenStatus.Failed, failed.Status);
        Assert.Equal(1.5e-3, failed.MaxAbsError, 12);
        Assert.Equal(GoldenStatus.Failed, GoldenRunner.Compare("t", [double.NaN, -10, 0], expected, tolerance).Status);
        Assert.Equal(GoldenStatus.Failed, GoldenRunner.Compare("ids", [1, 2, 3.0000001], [1, 2, 3], GoldenTolerance.ExactMatch).Status);
    }

    private string CopyCase(string name)
    {
        string target = Path.Combine(_dir, name);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(TestData.GoldenCase(name)))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        return target;
    }
}
