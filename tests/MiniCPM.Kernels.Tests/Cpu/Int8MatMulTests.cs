using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// The int8-activation kernels (<see cref="ActivationPrecision.Int8"/>) of every block-quantized type against a
/// double-precision sum of the Dequantizer's weight values times the dequantized int8 activations — ggml's integer
/// math, which only float32 rounding and summation order may change — and the float32-activation kernels of the types
/// that gained them here against the double dot over the dequantized weights.
/// </summary>
public sealed unsafe class Int8MatMulTests
{
    private static bool IsK(TensorType type) => type.BlockElements() == 256;

    public static TheoryData<TensorType, int, int, int> MatVecCases()
    {
        var data = new TheoryData<TensorType, int, int, int>();
        foreach (var type in RandomQuantBlocks.AllTypes)
        {
            int[][] shapes = IsK(type)
                ? [[1, 256], [3, 256], [7, 512], [33, 512], [5, 3584], [9, 4864]]
                : [[1, 32], [3, 32], [7, 64], [5, 96], [33, 64], [9, 896], [13, 4864]];
            foreach (var s in shapes)
                foreach (int threads in new[] { 1, 2 })
                    data.Add(type, s[0], s[1], threads);
        }
        return data;
    }

    public static TheoryData<TensorType, int, int, int, int> MultiplyCases()
    {
        var data = new TheoryData<TensorType, int, int, int, int>();
        foreach (var type in RandomQuantBlocks.AllTypes)
        {
            int wide = IsK(type) ? 3584 : 896;
            int narrow = IsK(type) ? 256 : 64;
            data.Add(type, 2, 7, narrow, 1);
            data.Add(type, 5, 33, narrow, 2);
            data.Add(type, 9, 11, wide, 2);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(MatVecCases))]
    public void Int8MatVecIsTheIntegerDotOfTheQuantizedActivations(TensorType type, int rows, int cols, int threads)
    {
        var random = new Random(rows * 7919 + cols * 31 + (int)type);
        var weights = RandomQuantBlocks.Weights(type, rows, cols, random);
        float[] x = TestWeights.RandomVector(random, cols, Math.Pow(10, random.Next(-2, 2)));
        float[] bias = TestWeights.RandomVector(random, rows);
        var expected = Int8Reference(weights, x, 1);
        var y = new float[rows];
        using var pool = new CpuThreadPool(threads);

        fixed (byte* data = weights.Bytes)
            MatMul.MatVec(weights.Matrix(data), x, y, bias, pool, ActivationPrecision.Int8);

        for (int r = 0; r < rows; r++)
        {
            var (sum, abs) = expected[0, r];
            Assert.True(Math.Abs(y[r] - (sum + bias[r])) <= Tolerance.DotProduct(cols + 1, abs + Math.Abs(bias[r])),
                $"{type} row {r}: got {y[r]}, expected {sum + bias[r]} (Σ|terms| {abs})");
        }
    }

    [Theory]
    [MemberData(nameof(MultiplyCases))]
    public void Int8MultiplyIsTheIntegerDotOfEachTokensQuantizedActivations(TensorType type, int tokens, int rows, int cols, int threads)
    {
        var random = new Random(tokens * 131 + rows * 17 + cols + (int)type);
        var weights = RandomQuantBlocks.Weights(type, rows, cols, random);
        float[] x = TestWeights.RandomVector(random, tokens * cols);
        var expected = Int8Reference(weights, x, tokens);
        var y = new float[tokens * rows];
        using var pool = new CpuThreadPool(threads);

        fixed (byte* data = weights.Bytes)
            MatMul.Multiply(weights.Matrix(data), x, tokens, y, default, pool, ActivationPrecision.Int8);

        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                var (sum, abs) = expected[t, r];
                Assert.True(Math.Abs(y[t * rows + r] - sum) <= Tolerance.DotProduct(cols, abs),
                    $"{type} token {t}, row {r}: got {y[t * rows + r]}, expected {sum}");
            }
    }

    /// <summary>
    /// For each token and row: Σ_c W[r, c]·(dₐ·a)[c] in double, plus — for Q4_1/Q5_1, whose min term ggml takes
    /// from Q8_1's rounded s = f16(d·Σa) — Σ_b m_b·(s_b − dₐ·Σa_b); and Σ|terms| for the bound.
    /// </summary>
    internal static (double Sum, double Abs)[,] Int8Reference(QuantTestWeights weights, float[] x, int tokens)
    {
        int cols = weights.Cols;
        bool k = IsK(weights.Type);
        bool hasMin = weights.Type is TensorType.Q4_1 or TensorType.Q5_1;
        var result = new (double, double)[tokens, weights.Rows];
        for (int t = 0; t < tokens; t++)
        {
            var (values, minTerms, exactMinTerms) = QuantizedActivations(x.AsSpan(t * cols, cols).ToArray(), k);
            for (int r = 0; r < weights.Rows; r++)
            {
                double sum = 0, abs = 0;
                for (int c = 0; c < cols; c++)
                {
                    double term = (double)weights.Values[r, c] * values[c];
                    sum += term;
                    abs += Math.Abs(term);
                }
                if (hasMin)
                    for (int b = 0; b < cols / 32; b++)
                    {
                        long offset = r * weights.RowStride + b * weights.Type.BlockBytes() + 2;
                        double m = (double)BitConverter.ToHalf(weights.Bytes, (int)offset);
                        sum += m * (minTerms[b] - exactMinTerms[b]);
                        abs += Math.Abs(m * minTerms[b]);
                    }
                result[t, r] = (sum, abs);
            }
        }
        return result;
    }

    /// <summary>One token's int8 activations dequantized (dₐ·a), its Q8_1 s per block and dₐ·Σa per block.</summary>
    private static (double[] Values, double[] MinTerms, double[] ExactMinTerms) QuantizedActivations(float[] x, bool kBlocks)
    {
        int cols = x.Length;
        fixed (float* xp = x)
        {
            var q = Int8Activations.Quantize(xp, 1, cols, kBlocks);
            Int8Vector* v = q.Token(0);
            int blockSize = kBlocks ? 256 : 32;
            var values = new double[cols];
            for (int c = 0; c < cols; c++) values[c] = (double)v->Scales[c / blockSize] * v->Quants[c];
            var minTerms = new double[cols / blockSize];
            var exact = new double[cols / blockSize];
            if (!kBlocks)
                for (int b = 0; b < cols / 32; b++)
                {
                    minTerms[b] = v->MinTerms[b];
                    exact[b] = (double)v->Scales[b] * v->BlockSums[b];
                }
            return (values, minTerms, exact);
        }
    }

    public static TheoryData<TensorType, int, int, int> FloatCases()
    {
        var data = new TheoryData<TensorType, int, int, int>();
        foreach (var type in new[] { TensorType.Q4_1, TensorType.Q5_0, TensorType.Q5_1, TensorType.Q2_K, TensorType.Q3_K, TensorType.Q5_K })
        {
            int[][] shapes = IsK(type) ? [[1, 256], [7, 512], [9, 3584]] : [[1, 32], [7, 96], [9, 896]];
            foreach (var s in shapes) data.Add(type, s[0], s[1], 2);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(FloatCases))]
    public void FloatActivationKernelsOfTheOtherTypesMatchTheDequantizedDot(TensorType type, int rows, int cols, int threads)
    {
        var random = new Random(rows * 7 + cols * 3 + (int)type);
        var weights = RandomQuantBlocks.Weights(type, rows, cols, random);
        weights.AssertMatVecMatchesReference(random, threads);
        weights.AssertMultiplyMatchesReference(random, 5, threads);
    }

    /// <summary>
    /// A Q4_0 block by hand: d = 0.5, nibble j = j mod 16 (low, elements 0..15) and 15 − j mod 16 (high, 16..31);
    /// activations chosen so quantization is exact (largest |x| 127: d = 1, q = x). Σ 0.5·(u − 8)·x is an exact small
    /// sum worked out here.
    /// </summary>
    [Fact]
    public void HandBuiltQ4_0BlockGivesTheHandComputedIntegerDot()
    {
        var block = new byte[18];
        BitConverter.TryWriteBytes(block.AsSpan(0, 2), (Half)0.5f);
        for (int j = 0; j < 16; j++) block[2 + j] = (byte)(j | (15 - j) << 4);
        float[] x = Enumerable.Range(0, 32).Select(i => (float)(i % 2 == 0 ? i * 4 : -i * 3)).ToArray();
        x[31] = -127;
        double expected = 0;
        for (int e = 0; e < 32; e++) expected += 0.5 * ((e < 16 ? e : 15 - (e - 16)) - 8) * x[e];
        var y = new float[1];
        fixed (byte* data = block)
            MatMul.MatVec(WeightMatrix.Contiguous(TensorType.Q4_0, data, 1, 32), x, y, default, null, ActivationPrecision.Int8);
        Assert.Equal(expected, y[0]);
    }

    [Fact]
    public void ByteDotWithoutVnniEqualsTheIntegerSums()
    {
        var random = new Random(5);
        var u = new byte[32];
        var s = new sbyte[32];
        for (int trial = 0; trial < 200; trial++)
        {
            random.NextBytes(u);
            for (int i = 0; i < 32; i++) s[i] = (sbyte)random.Next(-128, 128);
            if (trial == 0) { u.AsSpan().Fill(255); s.AsSpan().Fill(-128); }
            var start = System.Runtime.Intrinsics.Vector256.Create(trial, -trial, 7, 0, 1 << 20, -(1 << 20), 3, 4);
            var split = ByteDot.AddSplit(start, System.Runtime.Intrinsics.Vector256.Create(u), System.Runtime.Intrinsics.Vector256.Create(s));
            var fast = ByteDot.Add(start, System.Runtime.Intrinsics.Vector256.Create(u), System.Runtime.Intrinsics.Vector256.Create(s));
            for (int lane = 0; lane < 8; lane++)
            {
                int expected = start[lane];
                for (int k = 0; k < 4; k++) expected += u[4 * lane + k] * s[4 * lane + k];
                Assert.Equal(expected, split[lane]);
                Assert.Equal(expected, fast[lane]);
            }
        }
    }
}
