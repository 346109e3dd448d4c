using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed class SoftmaxTests
{
    private const double U = Tolerance.U;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 17)]
    [InlineData(4, 255)]
    [InlineData(2, 257)]
    [InlineData(7, 1000)]
    public void CausalRowsMatchDoubleReference(int rows, int cols)
    {
        var random = new Random(rows * 1000 + cols);
        float[] scores = TestWeights.RandomVector(random, rows * cols, 20);
        int firstRowLength = cols - rows + 1 > 0 ? cols - rows + 1 : 1;
        foreach (int threads in new[] { 1, 2 })
        {
            using var pool = new CpuThreadPool(threads);
            var y = (float[])scores.Clone();
            Softmax.ApplyRows(y, rows, cols, firstRowLength, pool);
            for (int r = 0; r < rows; r++)
            {
                int length = Math.Min(cols, firstRowLength + r);
                double max = double.NegativeInfinity, sum = 0;
                for (int i = 0; i < length; i++) max = Math.Max(max, scores[r * cols + i]);
                for (int i = 0; i < length; i++) sum += Math.Exp(scores[r * cols + i] - max);
                for (int i = 0; i < cols; i++)
                {
                    float actual = y[r * cols + i];
                    if (i >= length) { Assert.Equal(0f, actual); continue; }
                    double delta = scores[r * cols + i] - max;
                    double expected = Math.Exp(delta) / sum;
                    // x − max rounds (relative error u on an exponent of size |delta|), exp adds a few ulp,
                    // the float sum carries the dot-product bound, the division one more rounding.
                    double tolerance = expected * (Math.Abs(delta) * U + 6 * U + Tolerance.DotProduct(length, 1)) + 1e-38;
                    Assert.True(Math.Abs(actual - expected) <= tolerance, $"row {r} [{i}]: {actual} vs {expected}");
                }
            }
        }
    }

    [Fact]
    public void HugeScoresDoNotOverflow()
    {
        float[] row = [1000f, 1000f, -1000f];
        Softmax.Apply(row);
        Assert.Equal(0.5f, row[0]);
        Assert.Equal(0.5f, row[1]);
        Assert.Equal(0f, row[2]);
    }
}
