namespace MiniCPM.Engine.Golden;

public enum GoldenStatus
{
    Passed,
    Failed,
    /// <summary>Not computed by this engine (counted as neither passed nor failed, but always reported).</summary>
    Skipped,
    /// <summary>An input the runner fed to the model, not an output to check.</summary>
    Input,
}

/// <summary>The verdict on one tensor of a case.</summary>
public sealed record GoldenTensorResult(string Name, GoldenStatus Status, double MaxAbsError, string Detail);

/// <summary>All verdicts for one case folder.</summary>
public sealed record GoldenReport(string CaseDirectory, string CaseType, bool Supported, IReadOnlyList<GoldenTensorResult> Results)
{
    public int Passed => Results.Count(r => r.Status == GoldenStatus.Passed);
    public int Failed => Results.Count(r => r.Status == GoldenStatus.Failed);
    public int Skipped => Results.Count(r => r.Status == GoldenStatus.Skipped);
    public bool Success => Supported && Failed == 0;
}

/// <summary>
/// What a case runner produced: computed tensors (flattened, in the expected shape's element order) and the names of
/// the inputs it consumed. Manifest tensors in neither set are reported as skipped.
/// </summary>
public sealed class GoldenOutputs
{
    private readonly Dictionary<string, double[]> _computed = new(StringComparer.Ordinal);
    private readonly HashSet<string> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _skipped = new(StringComparer.Ordinal);

    public void Add(string name, ReadOnlySpan<float> values)
    {
        var copy = new double[values.Length];
        for (int i = 0; i < values.Length; i++) copy[i] = values[i];
        _computed[name] = copy;
    }

    public void Add(string name, ReadOnlySpan<int> values)
    {
        var copy = new double[values.Length];
        for (int i = 0; i < values.Length; i++) copy[i] = values[i];
        _computed[name] = copy;
    }

    public void MarkInput(string name) => _inputs.Add(name);

    /// <summary>Records why a tensor the runner knows about was not computed.</summary>
    public void Skip(string name, string reason) => _skipped[name] = reason;

    internal bool TryGet(string name, out double[] values) => _computed.TryGetValue(name, out values!);
    internal bool IsInput(string name) => _inputs.Contains(name);
    internal string? SkipReason(string name) => _skipped.GetValueOrDefault(name);
}
