namespace MiniCPM.Engine.Golden;

/// <summary>
/// How close an actual tensor must be to its expected one: exact equality (ids, inputs), or elementwise
/// |actual − expected| ≤ atol + rtol·|expected|.
/// </summary>
public sealed record GoldenTolerance(bool Exact, double Atol, double Rtol)
{
    /// <summary>The golden README's default: atol 2e-3, rtol 1e-3.</summary>
    public static GoldenTolerance Default { get; } = new(false, 2e-3, 1e-3);

    public static GoldenTolerance ExactMatch { get; } = new(true, 0, 0);

    public bool Accepts(double actual, double expected) =>
        Exact ? actual == expected : Math.Abs(actual - expected) <= Atol + Rtol * Math.Abs(expected);

    public override string ToString() => Exact ? "exact" : $"atol {Atol:G3}, rtol {Rtol:G3}";
}
