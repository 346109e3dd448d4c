using System.Numerics.Tensors;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// LayerNorm over the last dimension as torch defines it: y = (x − mean) / sqrt(var + eps) ⊙ w + b with the biased
/// variance (divided by n). Computed in float32 with two passes (mean, then squared deviations) for accuracy.
/// </summary>
public static unsafe class LayerNorm
{
    /// <summary>One row; <paramref name="y"/> may be <paramref name="x"/>.</summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps,
        Span<float> y)
    {
        int n = x.Length;
        if (weight.Length != n || bias.Length != n)
            throw new ArgumentException($"weight ({weight.Length}) and bias ({bias.Length}) must match the row ({n})");
        if (y.Length < n) throw new ArgumentException("output is shorter than the row", nameof(y));
        if (n == 0) return;
        y = y[..n];
        float mean = TensorPrimitives.Sum(x) / n;
        TensorPrimitives.Subtract(x, mean, y);
        float variance = TensorPrimitives.SumOfSquares(y) / n;
        float inverseStd = 1f / MathF.Sqrt(variance + eps);
        TensorPrimitives.Multiply(y, inverseStd, y);
        TensorPrimitives.FusedMultiplyAdd(y, weight, bias, y);
    }

    /// <summary><paramref name="rows"/> rows of <paramref name="weight"/>.Length values each, row-major.</summary>
    public static void ApplyRows(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias,
        float eps, Span<float> y, CpuThreadPool? pool = null)
    {
        int n = weight.Length;
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        if (bias.Length != n) throw new ArgumentException($"bias has {bias.Length} values, weight has {n}", nameof(bias));
        if (x.Length < (long)rows * n || y.Length < (long)rows * n)
            throw new ArgumentException($"{rows} rows of {n} values do not fit the given spans");
        fixed (float* xp = x, wp = weight, bp = bias, yp = y)
            RowJobs.Run(rows, new Job(xp, wp, bp, n, eps, yp), pool);
    }

    private readonly struct Job(float* x, float* weight, float* bias, int n, float eps, float* y) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
                Apply(new ReadOnlySpan<float>(x + (long)r * n, n), new ReadOnlySpan<float>(weight, n),
                    new ReadOnlySpan<float>(bias, n), eps, new Span<float>(y + (long)r * n, n));
        }
    }
}
