using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed unsafe class MatMulTests : IDisposable
{
    private readonly CpuThreadPool _twoThreads = new(2);
    public void Dispose() => _twoThreads.Dispose();

    public static TheoryData<TensorType, int, int, int> MatVecCases()
    {
        var data = new TheoryData<TensorType, int, int, int>();
        int[][] shapes = [[1, 1], [3, 17], [17, 3], [5, 255], [7, 257], [255, 64], [33, 1000], [1000, 33], [9, 1024]];
        foreach (var type in new[] { TensorType.F32, TensorType.F16, TensorType.BF16 })
            foreach (var s in shapes)
                foreach (int threads in new[] { 1, 2 })
                    data.Add(type, s[0], s[1], threads);
        return data;
    }

    [Theory]
    [MemberData(nameof(MatVecCases))]
    public void MatVecMatchesDoubleReference(TensorType type, int rows, int cols, int threads)
    {
        var random = new Random(rows * 7919 + cols * 31 + (int)type);
        var w = new TestWeights(type, rows, cols, random, padBytes: cols % 3 == 0 ? 10 : 0);
        float[] x = TestWeights.RandomVector(random, cols);
        float[] bias = TestWeights.RandomVector(random, rows);
        var y = new float[rows];
        using var pool = new CpuThreadPool(threads);

        fixed (byte* data = w.Bytes)
            MatMul.MatVec(new WeightMatrix(type, data, rows, cols, w.RowStride), x, y, bias, pool);

        for (int r = 0; r < rows; r++)
        {
            double sum = bias[r], abs = Math.Abs(bias[r]);
            for (int c = 0; c < cols; c++)
            {
                sum += w.Exact[r, c] * x[c];
                abs += Math.Abs(w.Exact[r, c] * x[c]);
            }
            Assert.True(Math.Abs(y[r] - sum) <= Tolerance.DotProduct(cols + 1, abs),
                $"row {r}: got {y[r]}, expected {sum} (Σ|terms| {abs})");
        }
    }

    [Theory]
    [InlineData(TensorType.F32, 1, 5, 3)]
    [InlineData(TensorType.F32, 2, 17, 17)]
    [InlineData(TensorType.F16, 5, 9, 255)]
    [InlineData(TensorType.F16, 9, 3, 257)]
    [InlineData(TensorType.BF16, 13, 33, 100)]
    [InlineData(TensorType.BF16, 70, 6, 40)]
    [InlineData(TensorType.F16, 67, 31, 1000)]
    public void MultiplyMatchesDoubleReference(TensorType type, int tokens, int rows, int cols)
    {
        var random = new Random(tokens * 131 + rows * 17 + cols);
        var w = new TestWeights(type, rows, cols, random, padBytes: 6);
        float[] x = TestWeights.RandomVector(random, tokens * cols);
        float[] bias = TestWeights.RandomVector(random, rows);
        foreach (var pool in new[] { null, _twoThreads })
        {
            var y = new float[tokens * rows];
            fixed (byte* data = w.Bytes)
                MatMul.Multiply(new WeightMatrix(type, data, rows, cols, w.RowStride), x, tokens, y, bias, pool);

            for (int t = 0; t < tokens; t++)
                for (int r = 0; r < rows; r++)
                {
                    double sum = bias[r], abs = Math.Abs(bias[r]);
                    for (int c = 0; c < cols; c++)
                    {
                        double term = w.Exact[r, c] * x[t * cols + c];
                        sum += term;
                        abs += Math.Abs(term);
                    }
                    Assert.True(Math.Abs(y[t * rows + r] - sum) <= Tolerance.DotProduct(cols + 1, abs),
                        $"token {t} row {r}: got {y[t * rows + r]}, expected {sum}");
                }
        }
    }

    [Fact]
    public void MatVecRowsComputesOnlyTheRequestedRows()
    {
        var random = new Random(5);
        var w = new TestWeights(TensorType.F16, 11, 40, random);
        float[] x = TestWeights.RandomVector(random, 40);
        var y = Enumerable.Repeat(float.NaN, 11).ToArray();
        fixed (byte* data = w.Bytes)
            MatMul.MatVecRows(WeightMatrix.Contiguous(TensorType.F16, data, 11, 40), x, y, default, 3, 6);
        for (int r = 0; r < 11; r++)
            Assert.Equal(r is >= 3 and < 9, !float.IsNaN(y[r]));
    }

    [Fact]
    public void RejectsMismatchedShapesAndUnsupportedTypes()
    {
        var bytes = new byte[4 * 8 * 34];
        fixed (byte* data = bytes)
        {
            var w = WeightMatrix.Contiguous(TensorType.F32, data, 4, 8);
            Assert.Throws<ArgumentException>(() => MatMul.MatVec(w, new float[7], new float[4]));
            Assert.Throws<ArgumentException>(() => MatMul.MatVec(w, new float[8], new float[3]));
            Assert.Throws<ArgumentException>(() => MatMul.MatVec(w, new float[8], new float[4], new float[3]));
            var quantized = WeightMatrix.Contiguous(TensorType.Q8_0, data, 4, 32);
            Assert.Throws<NotSupportedException>(() => MatMul.MatVec(quantized, new float[32], new float[4]));
        }
    }
}

public sealed unsafe class F16SpecialValueTests
{
    /// <summary>Infinity and NaN weights take the exact path: the product is what IEEE arithmetic gives.</summary>
    [Theory]
    [InlineData(8)]   // rows handled four at a time
    [InlineData(3)]   // rows handled one at a time
    public void InfinityAndNaNWeightsPropagate(int rows)
    {
        const int cols = 40;
        var random = new Random(rows);
        var w = new TestWeights(TensorType.F16, rows, cols, random);
        float[] x = TestWeights.RandomVector(random, cols);
        for (int c = 0; c < cols; c++) x[c] = Math.Abs(x[c]) + 0.1f;
        BitConverter.TryWriteBytes(w.Bytes.AsSpan((int)(0 * w.RowStride) + 2 * 5, 2), Half.PositiveInfinity);
        BitConverter.TryWriteBytes(w.Bytes.AsSpan((int)(1 * w.RowStride) + 2 * 33, 2), Half.NegativeInfinity);
        BitConverter.TryWriteBytes(w.Bytes.AsSpan((int)(2 * w.RowStride) + 2 * 17, 2), Half.NaN);
        var y = new float[rows];
        fixed (byte* data = w.Bytes)
            MatMul.MatVec(new WeightMatrix(TensorType.F16, data, rows, cols, w.RowStride), x, y);
        Assert.Equal(float.PositiveInfinity, y[0]);
        Assert.Equal(float.NegativeInfinity, y[1]);
        Assert.True(float.IsNaN(y[2]));
        for (int r = 3; r < rows; r++) Assert.True(float.IsFinite(y[r]));
    }
}
