using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed class NormTests
{
    private const double U = Tolerance.U;
    public static TheoryData<int, int> Shapes() => new() { { 1, 1 }, { 3, 17 }, { 2, 255 }, { 5, 257 }, { 4, 1000 }, { 3, 3584 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RmsNormMatchesDoubleReference(int rows, int n)
    {
        var random = new Random(rows * 100 + n);
        float[] x = TestWeights.RandomVector(random, rows * n, 3);
        float[] w = TestWeights.RandomVector(random, n, 2);
        const float eps = 1e-6f;
        foreach (int threads in new[] { 1, 2 })
        {
            using var pool = new CpuThreadPool(threads);
            var y = new float[rows * n];
            RmsNorm.ApplyRows(x, rows, w, eps, y, pool);
            for (int r = 0; r < rows; r++)
            {
                double meanSquare = 0;
                for (int i = 0; i < n; i++) meanSquare += (double)x[r * n + i] * x[r * n + i];
                double scale = 1 / Math.Sqrt(meanSquare / n + eps);
                for (int i = 0; i < n; i++)
                {
                    double expected = w[i] * x[r * n + i] * scale;
                    // Sum of squares: dot-product bound (relative, all terms positive); then sqrt, divide and two
                    // products add a few u each.
                    double tolerance = (Tolerance.DotProduct(n, 1) + 8 * U) * Math.Abs(expected) + 1e-30;
                    Assert.True(Math.Abs(y[r * n + i] - expected) <= tolerance, $"row {r} [{i}]: {y[r * n + i]} vs {expected}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LayerNormMatchesDoubleReference(int rows, int n)
    {
        var random = new Random(rows * 100 + n + 1);
        float[] x = TestWeights.RandomVector(random, rows * n, 3);
        for (int i = 0; i < x.Length; i++) x[i] += 5; // an offset makes the mean matter
        float[] w = TestWeights.RandomVector(random, n, 2);
        float[] b = TestWeights.RandomVector(random, n, 1);
        const float eps = 1e-5f;
        foreach (int threads in new[] { 1, 2 })
        {
            using var pool = new CpuThreadPool(threads);
            var y = new float[rows * n];
            LayerNorm.ApplyRows(x, rows, w, b, eps, y, pool);
            for (int r = 0; r < rows; r++)
            {
                double mean = 0, meanAbs = 0;
                for (int i = 0; i < n; i++) { mean += x[r * n + i]; meanAbs += Math.Abs(x[r * n + i]); }
                mean /= n;
                meanAbs /= n;
                double variance = 0;
                for (int i = 0; i < n; i++) variance += (x[r * n + i] - mean) * (x[r * n + i] - mean);
                variance /= n; // biased, as torch
                double inverseStd = 1 / Math.Sqrt(variance + eps);
                double sumBound = Tolerance.DotProduct(n, 1);
                for (int i = 0; i < n; i++)
                {
                    double centred = x[r * n + i] - mean;
                    double expected = centred * inverseStd * w[i] + b[i];
                    // The float mean is off by ≈ sumBound·mean|x|; the variance (a sum of squares) by sumBound
                    // relative; the rest is a handful of roundings on each term.
                    double centredError = sumBound * meanAbs + 2 * U * (Math.Abs(centred) + Math.Abs(mean));
                    double tolerance = (centredError + (sumBound + 8 * U) * Math.Abs(centred)) * inverseStd * Math.Abs(w[i])
                        + 2 * U * Math.Abs(b[i]) + 2 * U * Math.Abs(expected);
                    Assert.True(Math.Abs(y[r * n + i] - expected) <= tolerance, $"row {r} [{i}]: {y[r * n + i]} vs {expected}");
                }
            }
        }
    }

    [Fact]
    public void RmsNormWorksInPlace()
    {
        float[] x = [1, 2, 3, 4];
        float[] w = [1, 1, 1, 2];
        RmsNorm.Apply(x, w, 0, x);
        double rms = Math.Sqrt((1 + 4 + 9 + 16) / 4.0);
        Assert.Equal(4 * 2 / rms, x[3], 6);
        Assert.Equal(1 / rms, x[0], 6);
    }
}
