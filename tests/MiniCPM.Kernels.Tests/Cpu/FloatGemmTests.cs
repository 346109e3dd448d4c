using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// MatMul.Multiply with enough tokens to take the blocked float GEMM (<see cref="FloatGemm"/>), against a double
/// reference over the exactly decoded weights. Shapes cover whole and partial 8-token × 32-row tiles, several 256-column
/// blocks with a ragged last one, column counts that are not whole 16-float vectors, more than one 8-panel row group,
/// padded row strides (junk in the padding), bias or none, and 1–3 threads.
/// </summary>
public sealed unsafe class FloatGemmTests
{
    public static TheoryData<TensorType, int, int, int, bool> Cases()
    {
        var data = new TheoryData<TensorType, int, int, int, bool>();
        const int m = FloatGemm.MinTokens; // every case takes the GEMM: whole and partial 8-token tiles
        int[][] shapes = [[m, 32, 256], [m + 3, 45, 300], [m + 9, 300, 1100], [m + 1, 7, 17], [m + 7, 513, 40]];
        foreach (var type in new[] { TensorType.F32, TensorType.F16, TensorType.BF16 })
            foreach (var s in shapes)
                data.Add(type, s[0], s[1], s[2], s[1] % 2 == 1);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDoubleReference(TensorType type, int tokens, int rows, int cols, bool withBias)
    {
        var random = new Random(tokens * 131 + rows * 17 + cols + (int)type);
        var w = new TestWeights(type, rows, cols, random, padBytes: 6);
        float[] x = TestWeights.RandomVector(random, tokens * cols);
        float[] bias = withBias ? TestWeights.RandomVector(random, rows) : [];
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var pool = new CpuThreadPool(threads);
            var y = Enumerable.Repeat(float.NaN, tokens * rows).ToArray(); // every output must be written
            fixed (byte* data = w.Bytes)
                MatMul.Multiply(new WeightMatrix(type, data, rows, cols, w.RowStride), x, tokens, y, bias, pool);

            for (int t = 0; t < tokens; t++)
                for (int r = 0; r < rows; r++)
                {
                    double sum = withBias ? bias[r] : 0, abs = Math.Abs(sum);
                    for (int c = 0; c < cols; c++)
                    {
                        double term = w.Exact[r, c] * x[t * cols + c];
                        sum += term;
                        abs += Math.Abs(term);
                    }
                    Assert.True(Math.Abs(y[t * rows + r] - sum) <= SerialDotProduct(cols, abs),
                        $"{threads} threads, token {t} row {r}: got {y[t * rows + r]}, expected {sum}");
                }
        }
    }

    [Theory]
    [InlineData(0x7C00, true)]  // +Inf
    [InlineData(0x7E00, false)] // NaN
    public void F16InfinityAndNaNWeightsReachTheirRowsOnly(ushort bits, bool infinity)
    {
        // The packing widens exactly (no fast path), so a rare encoding is a real Inf/NaN in exactly its row's outputs.
        const int tokens = FloatGemm.MinTokens + 5, rows = 40, cols = 70, special = 33;
        var random = new Random(3);
        var w = new TestWeights(TensorType.F16, rows, cols, random);
        BitConverter.TryWriteBytes(w.Bytes.AsSpan((int)(special * w.RowStride + 2 * 65), 2), bits);
        float[] x = TestWeights.RandomVector(random, tokens * cols);
        var y = new float[tokens * rows];
        fixed (byte* data = w.Bytes)
            MatMul.Multiply(new WeightMatrix(TensorType.F16, data, rows, cols, w.RowStride), x, tokens, y);
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float value = y[t * rows + r];
                if (r != special) Assert.True(float.IsFinite(value), $"token {t} row {r}: {value}");
                else if (infinity) Assert.Equal(x[t * cols + 65] > 0 ? float.PositiveInfinity : float.NegativeInfinity, value);
                else Assert.True(float.IsNaN(value));
            }
    }

    /// <summary>
    /// The GEMM adds each output's terms in one serial FMA chain per 256-column block (≤ 256 additions), then adds the
    /// block sums and the bias in turn: a chain of at most cols + 2 roundings, so γ ≈ (cols + 2)·u·Σ|terms|, plus a few
    /// units for the stores. Longer than the dot kernels' 16-lane chains (<see cref="Tolerance.DotProduct"/>) because
    /// the lanes here run over output rows, not columns.
    /// </summary>
    private static double SerialDotProduct(int cols, double sumOfAbsoluteTerms) => (cols + 8) * Tolerance.U * sumOfAbsoluteTerms;
}
