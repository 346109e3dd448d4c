using System.Numerics.Tensors;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// RMSNorm as Hugging Face's Qwen2RMSNorm computes it in float32: y = w ⊙ (x · rsqrt(mean(x²) + eps)), with the
/// mean taken over the row and the scaling applied before the weight.
/// </summary>
public static unsafe class RmsNorm
{
    /// <summary>One row; <paramref name="y"/> may be <paramref name="x"/>.</summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        if (weight.Length != x.Length) throw new ArgumentException($"weight has {weight.Length} values, row has {x.Length}", nameof(weight));
        if (y.Length < x.Length) throw new ArgumentException("output is shorter than the row", nameof(y));
        if (x.Length == 0) return;
        float meanSquare = TensorPrimitives.SumOfSquares(x) / x.Length;
        float scale = 1f / MathF.Sqrt(meanSquare + eps);
        y = y[..x.Length];
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary><paramref name="rows"/> rows of <paramref name="weight"/>.Length values each, row-major.</summary>
    public static void ApplyRows(ReadOnlySpan<float> x, int rows, ReadOnlySpan<float> weight, float eps, Span<float> y,
        CpuThreadPool? pool = null)
    {
        int n = weight.Length;
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        if (x.Length < (long)rows * n || y.Length < (long)rows * n)
            throw new ArgumentException($"{rows} rows of {n} values do not fit the given spans");
        fixed (float* xp = x, wp = weight, yp = y)
            RowJobs.Run(rows, new Job(xp, wp, n, eps, yp), pool);
    }

    private readonly struct Job(float* x, float* weight, int n, float eps, float* y) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
                Apply(new ReadOnlySpan<float>(x + (long)r * n, n), new ReadOnlySpan<float>(weight, n), eps,
                    new Span<float>(y + (long)r * n, n));
        }
    }
}
