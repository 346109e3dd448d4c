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
            var quantized = WeightMatrix.Contiguous(TensorType.Q8_1, data, 4, 32); // a block type with no CPU kernel (an activation format)
            Assert.Throws<NotSupportedException>(() => MatMul.MatVec(quantized, new float[32], new float[4]));
        }
    }
}

public sealed unsafe class F16SpecialValueTests
{
    /// <summary>
    /// Rows made only of subnormal halves and signed zeros — the encodings the fast widening fixes up — through the
    /// four-row kernel (whole 32-column blocks, a 16-column step and a scalar tail), against a double reference.
    /// </summary>
    [Theory]
    [InlineData(8, 32 * 5 + 16 + 7, 1)]
    [InlineData(37, 32 * 9, 2)]
    [InlineData(12, 100, 2)]
    public void SubnormalAndZeroWeightsAreExact(int rows, int cols, int threads)
    {
        var random = new Random(rows * 100 + cols);
        var bytes = new byte[rows * cols * 2];
        var exact = new double[rows, cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                // Mantissa 0..1023 with exponent 0: ±m·2⁻²⁴, zeros of both signs included.
                ushort h = (ushort)(random.Next(1024) | (random.Next(2) << 15));
                if (random.Next(8) == 0) h &= 0x8000;
                BitConverter.TryWriteBytes(bytes.AsSpan(2 * (r * cols + c), 2), h);
                exact[r, c] = (double)BitConverter.UInt16BitsToHalf(h);
            }
        float[] x = TestWeights.RandomVector(random, cols);
        var y = new float[rows];
        using var pool = new CpuThreadPool(threads);
        fixed (byte* data = bytes)
            MatMul.MatVec(WeightMatrix.Contiguous(TensorType.F16, data, rows, cols), x, y, default, pool);
        for (int r = 0; r < rows; r++)
        {
            double sum = 0, abs = 0;
            for (int c = 0; c < cols; c++)
            {
                sum += exact[r, c] * x[c];
                abs += Math.Abs(exact[r, c] * x[c]);
            }
            Assert.True(sum != 0, "the reference should not be trivially zero");
            Assert.True(Math.Abs(y[r] - sum) <= Tolerance.DotProduct(cols, abs), $"row {r}: got {y[r]}, expected {sum}");
        }
    }

    [Fact]
    public void ZeroRowsGiveZero()
    {
        const int rows = 8, cols = 70;
        var bytes = new byte[rows * cols * 2];
        for (int i = 1; i < bytes.Length; i += 4) bytes[i] = 0x80; // every other weight −0
        float[] x = TestWeights.RandomVector(new Random(3), cols);
        var y = Enumerable.Repeat(float.NaN, rows).ToArray();
        fixed (byte* data = bytes)
            MatMul.MatVec(WeightMatrix.Contiguous(TensorType.F16, data, rows, cols), x, y);
        Assert.All(y, v => Assert.Equal(0f, v));
    }

    /// <summary>
    /// An infinity or NaN anywhere in a row — even or odd column of a 32-column block, the 16-column step, the scalar
    /// tail — makes that row's result infinite or NaN and leaves the other rows of its four-row pass untouched.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(62)]
    [InlineData(63)]
    [InlineData(64 + 5)]   // the 16-column step
    [InlineData(64 + 16 + 2)] // the scalar tail
    public void InfinityAndNaNAreFoundAtEveryColumnPosition(int column)
    {
        const int rows = 16, cols = 64 + 16 + 3;
        var random = new Random(column);
        var w = new TestWeights(TensorType.F16, rows, cols, random);
        float[] x = TestWeights.RandomVector(random, cols);
        for (int c = 0; c < cols; c++) x[c] = Math.Abs(x[c]) + 0.1f;
        // Rows 1, 6 and 11 fall in different quarters of the four-row passes.
        BitConverter.TryWriteBytes(w.Bytes.AsSpan((int)(1 * w.RowStride) + 2 * column, 2), Half.PositiveInfinity);
        BitConverter.TryWriteBytes(w.Bytes.AsSpan((int)(6 * w.RowStride) + 2 * column, 2), Half.NegativeInfinity);
        BitConverter.TryWriteBytes(w.Bytes.AsSpan((int)(11 * w.RowStride) + 2 * column, 2), Half.NaN);
        var y = new float[rows];
        fixed (byte* data = w.Bytes)
            MatMul.MatVec(new WeightMatrix(TensorType.F16, data, rows, cols, w.RowStride), x, y);
        Assert.Equal(float.PositiveInfinity, y[1]);
        Assert.Equal(float.NegativeInfinity, y[6]);
        Assert.True(float.IsNaN(y[11]));
        for (int r = 0; r < rows; r++)
        {
            if (r is 1 or 6 or 11) continue;
            double sum = 0, abs = 0;
            for (int c = 0; c < cols; c++)
            {
                sum += w.Exact[r, c] * x[c];
                abs += Math.Abs(w.Exact[r, c] * x[c]);
            }
            Assert.True(Math.Abs(y[r] - sum) <= Tolerance.DotProduct(cols, abs), $"row {r}: got {y[r]}, expected {sum}");
        }
    }

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
