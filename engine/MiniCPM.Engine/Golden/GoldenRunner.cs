namespace MiniCPM.Engine.Golden;

/// <summary>
/// Runs a golden case folder: picks the runner for the manifest's case type, lets it compute what it can, then
/// compares every tensor of the manifest with its tolerance (inputs are listed, uncomputed tensors reported skipped).
/// </summary>
public static class GoldenRunner
{
    public static GoldenReport Run(string caseDirectory, GoldenRunOptions? options = null)
    {
        options ??= new GoldenRunOptions();
        using var goldenCase = GoldenCase.Open(caseDirectory);
        var runner = Runners(options).FirstOrDefault(r => r.CaseType == goldenCase.Manifest.CaseType);
        if (runner is null) return new GoldenReport(caseDirectory, goldenCase.Manifest.CaseType, Supported: false, []);

        var outputs = new GoldenOutputs();
        runner.Run(goldenCase, outputs);
        var results = goldenCase.Manifest.Tensors.Select(spec => Judge(goldenCase, spec, outputs)).ToList();
        return new GoldenReport(caseDirectory, goldenCase.Manifest.CaseType, Supported: true, results);
    }

    /// <summary>The case types this engine can run.</summary>
    public static IReadOnlyList<IGoldenCaseRunner> Runners(GoldenRunOptions options) =>
        [new LlmGoldenRunner(options), new VisionGoldenRunner(options), new ResamplerGoldenRunner(options), new MultimodalGoldenRunner(options),
         new AudioGoldenRunner(options)];

    private static GoldenTensorResult Judge(GoldenCase goldenCase, GoldenTensorSpec spec, GoldenOutputs outputs)
    {
        if (outputs.IsInput(spec.Name)) return new GoldenTensorResult(spec.Name, GoldenStatus.Input, 0, "input");
        if (!outputs.TryGet(spec.Name, out var actual))
            return new GoldenTensorResult(spec.Name, GoldenStatus.Skipped, double.NaN, outputs.SkipReason(spec.Name) ?? "not computed by this engine");
        if (!goldenCase.Has(spec.Name))
            return new GoldenTensorResult(spec.Name, GoldenStatus.Failed, double.NaN, "listed in the manifest but missing from the expected file");
        double[] expected = spec.DType == "I32"
            ? goldenCase.ReadInts(spec.Name).Select(v => (double)v).ToArray()
            : goldenCase.ReadFloats(spec.Name).Select(v => (double)v).ToArray();
        return Compare(spec.Name, actual, expected, spec.Tolerance);
    }

    /// <summary>Elementwise check; the reported error is the largest |actual − expected| (NaN anywhere fails).</summary>
    public static GoldenTensorResult Compare(string name, ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, GoldenTolerance tolerance)
    {
        if (actual.Length != expected.Length)
            return new GoldenTensorResult(name, GoldenStatus.Failed, double.NaN, $"{actual.Length} values computed, {expected.Length} expected");
        double maxError = 0;
        int violations = 0, firstViolation = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(error)) maxError = double.NaN; // sticks: NaN > x is false for every x
            else if (error > maxError) maxError = error;
            if (!tolerance.Accepts(actual[i], expected[i]) && violations++ == 0) firstViolation = i;
        }
        string detail = violations == 0
            ? tolerance.ToString()
            : $"{violations} of {actual.Length} outside {tolerance}; first at flat index {firstViolation}: {actual[firstViolation]:G9} vs {expected[firstViolation]:G9}";
        return new GoldenTensorResult(name, violations == 0 ? GoldenStatus.Passed : GoldenStatus.Failed, maxError, detail);
    }
}

/// <summary>How the golden runners build models.</summary>
public sealed record GoldenRunOptions
{
    public int Threads { get; init; } = Math.Min(Environment.ProcessorCount, 4);

    /// <summary>"cpu" or null: the CPU backend; "cuda[:N]", "opencl[:N]", "simulator": the GPU backend on that device.</summary>
    public string? Device { get; init; }

    /// <summary>Whether <see cref="Device"/> names a GPU backend device.</summary>
    public bool OnGpu => Device is not (null or "cpu");
}
