using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// A matrix of quantized rows (padded with junk a kernel must not read) and the values the <see cref="Dequantizer"/>
/// gives for them: the reference every fused quantized kernel is held to.
/// </summary>
internal sealed unsafe class QuantTestWeights
{
    /// <param name="fillRow">Writes row r's blocks into the span (the row's bytes start out random).</param>
    public QuantTestWeights(TensorType type, int rows, int cols, Random random, Action<int, Span<byte>> fillRow, int padBytes = 6)
    {
        Type = type;
        Rows = rows;
        Cols = cols;
        long rowBytes = type.RowBytes(cols)!.Value;
        RowStride = rowBytes + padBytes;
        Bytes = new byte[RowStride * rows + 64];
        random.NextBytes(Bytes);
        Values = new float[rows, cols];
        var decoded = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            var row = Bytes.AsSpan((int)(r * RowStride), (int)rowBytes);
            fillRow(r, row);
            Dequantizer.RowToFloat(type, row, decoded);
            for (int c = 0; c < cols; c++)
            {
                Assert.True(float.IsFinite(decoded[c]));
                Values[r, c] = decoded[c];
            }
        }
    }

    public TensorType Type { get; }
    public int Rows { get; }
    public int Cols { get; }
    public long RowStride { get; }
    public byte[] Bytes { get; }

    /// <summary>The dequantized weights.</summary>
    public float[,] Values { get; }

    public WeightMatrix Matrix(byte* data) => new(Type, data, Rows, Cols, RowStride);

    /// <summary>One row of <paramref name="block"/> (as many columns as x) times x, through <see cref="MatMul.MatVec"/>.</summary>
    public static float MatVec1(TensorType type, byte[] block, float[] x)
    {
        var y = new float[1];
        fixed (byte* data = block) MatMul.MatVec(WeightMatrix.Contiguous(type, data, 1, x.Length), x, y);
        return y[0];
    }

    /// <summary>Σ_c W[r, c]·x[c] (+ bias) in double, and Σ of the terms' magnitudes for the error bound.</summary>
    public (double Sum, double Abs) Reference(int r, ReadOnlySpan<float> x, float bias)
    {
        double sum = bias, abs = Math.Abs(bias);
        for (int c = 0; c < Cols; c++)
        {
            double term = (double)Values[r, c] * x[c];
            sum += term;
            abs += Math.Abs(term);
        }
        return (sum, abs);
    }

    /// <summary>MatVec with random x and bias on <paramref name="threads"/> threads, each row within the float32 dot bound.</summary>
    public void AssertMatVecMatchesReference(Random random, int threads)
    {
        float[] x = TestWeights.RandomVector(random, Cols);
        float[] bias = TestWeights.RandomVector(random, Rows);
        var y = new float[Rows];
        using var pool = new CpuThreadPool(threads);

        fixed (byte* data = Bytes)
            MatMul.MatVec(Matrix(data), x, y, bias, pool);

        for (int r = 0; r < Rows; r++)
        {
            var (sum, abs) = Reference(r, x, bias[r]);
            Assert.True(Math.Abs(y[r] - sum) <= Tolerance.DotProduct(Cols + 1, abs),
                $"row {r}: got {y[r]}, expected {sum} (Σ|terms| {abs})");
        }
    }

    /// <summary>Multiply (tokens × cols activations) on <paramref name="threads"/> threads, each output within the float32 dot bound.</summary>
    public void AssertMultiplyMatchesReference(Random random, int tokens, int threads)
    {
        float[] x = TestWeights.RandomVector(random, tokens * Cols);
        var y = new float[tokens * Rows];
        using var pool = new CpuThreadPool(threads);

        fixed (byte* data = Bytes)
            MatMul.Multiply(Matrix(data), x, tokens, y, default, pool);

        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < Rows; r++)
            {
                var (sum, abs) = Reference(r, x.AsSpan(t * Cols, Cols), 0);
                Assert.True(Math.Abs(y[t * Rows + r] - sum) <= Tolerance.DotProduct(Cols, abs),
                    $"token {t}, row {r}: got {y[t * Rows + r]}, expected {sum}");
            }
    }
}
