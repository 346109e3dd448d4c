using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats.Int4;
using MiniCPM.Kernels.Tests.Cpu;

namespace MiniCPM.Kernels.Tests.Int4;

/// <summary>NF4 (bitsandbytes) decoding by hand, the quantizer's error bound, and the fused kernels against the reference.</summary>
public sealed unsafe class Nf4Tests
{
    [Fact]
    public void CodeBookIsBitsandbytesNf4()
    {
        var book = Nf4CodeBooks.Nf4;
        Assert.Equal(16, book.Length);
        Assert.Equal(-1f, book[0]);
        Assert.Equal(0f, book[7]);
        Assert.Equal(1f, book[15]);
        Assert.Equal(0.07958029955625534f, book[8]);
        Assert.Equal(-0.6961928009986877f, book[1]);
        for (int k = 1; k < 16; k++) Assert.True(book[k] > book[k - 1]);
    }

    [Fact]
    public void DynamicMapHasBitsandbytesShape()
    {
        var map = Nf4CodeBooks.Dynamic();
        Assert.Equal(256, map.Length);
        for (int k = 1; k < 256; k++) Assert.True(map[k] >= map[k - 1]);
        Assert.Equal(1f, map[255]);
        Assert.Contains(0f, map);
        // Largest magnitude below 1: exponent step 6 (scale 1), last midpoint of 65 points in [0.1, 1].
        Assert.Equal((float)((0.1 + 0.9 * 63 / 64 + 1.0) / 2), map[0] * -1, 6);
        // Smallest non-zero magnitude: step 0 (scale 1e-6), the one midpoint of [0.1, 1].
        Assert.Equal(0.55e-6f, map.Where(v => v > 0).Min(), 12);
    }

    [Fact]
    public void DequantizesHandBuiltNestedWeight()
    {
        // 2 rows × 4 columns, block size 2 (4 blocks), nested block size 2 (2 nested blocks).
        byte[] codes = [0xF0, 0x7F, 0x08, 0x1E]; // elements: 15,0 | 7,15 | 0,8 | 1,14
        float[] book = Nf4CodeBooks.Nf4.ToArray();
        byte[] absmaxCodes = [0, 1, 1, 0];
        float[] nestedCode = new float[256];
        nestedCode[0] = 0.5f;
        nestedCode[1] = -0.25f;
        float[] nestedAbsmax = [2f, 4f];
        const float offset = 0.25f;
        // absmax: 0.5·2+0.25 = 1.25, −0.25·2+0.25 = −0.25, −0.25·4+0.25 = −0.75, 0.5·4+0.25 = 2.25
        float[] expected =
        [
            1f * 1.25f, -1f * 1.25f,
            0f, 1f * -0.25f,
            -1f * -0.75f, book[8] * -0.75f,
            book[1] * 2.25f, book[14] * 2.25f,
        ];
        var actual = new float[8];
        fixed (byte* c = codes, a = absmaxCodes)
        fixed (float* b = book, nc = nestedCode, na = nestedAbsmax)
        {
            var w = Nf4Tensor.Nested(c, b, a, na, nc, offset, rows: 2, cols: 4, blockSize: 2, nestedBlockSize: 2);
            Assert.Equal(1.25f, w.BlockScale(0));
            Assert.Equal(2.25f, w.BlockScale(3));
            Int4Dequantizer.Nf4Rows(w, 0, 2, actual);
            var second = new float[4];
            Int4Dequantizer.Nf4Rows(w, 1, 1, second);
            Assert.Equal(expected[4..], second);
        }
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void QuantizeThenDequantizeStaysWithinNf4Resolution()
    {
        var random = new Random(5);
        int rows = 8, cols = 512;
        var weights = RandomWeights(random, rows * cols);
        var q = Nf4Quantizer.Quantize(weights);
        var values = Dequantize(q, rows, cols);
        // Per element: half the widest NF4 gap (−1 → −0.6962) of the block's true absmax, plus the scale's own 8-bit error.
        double widestHalfGap = (Nf4CodeBooks.Nf4[1] - Nf4CodeBooks.Nf4[0]) / 2;
        for (int b = 0; b < rows * cols / 64; b++)
        {
            double trueAbsmax = weights.AsSpan(b * 64, 64).ToArray().Max(v => Math.Abs(v));
            double decodedAbsmax = values.AsSpan(b * 64, 64).ToArray().Max(v => Math.Abs(v));
            double scaleError = Math.Abs(decodedAbsmax - trueAbsmax);
            // The dynamic map's widest gap below 1 is 0.9/64 (exponent step 0 of the top decade): half of it, times the
            // nested block's scale.
            Assert.True(scaleError <= 0.9 / 64 / 2 * q.NestedAbsmax[b / 256] + 1e-6, $"block {b}: absmax {trueAbsmax} decoded as {decodedAbsmax}");
            for (int k = 0; k < 64; k++)
            {
                int j = b * 64 + k;
                Assert.True(Math.Abs(values[j] - weights[j]) <= widestHalfGap * trueAbsmax + scaleError + 1e-6, $"element {j}");
            }
        }
    }

    public static TheoryData<int, int, int, int> KernelCases() => new()
    {
        { 1, 64, 1, 1 }, { 3, 128, 1, 2 }, { 17, 256, 1, 2 }, { 9, 1024, 1, 1 },
        { 5, 128, 3, 1 }, { 17, 256, 4, 2 }, { 6, 512, 9, 2 }, { 3, 64, 2, 1 },
    };

    [Theory]
    [MemberData(nameof(KernelCases))]
    public void KernelMatchesDoubleReferenceOverDequantizedWeights(int rows, int cols, int tokens, int threads)
    {
        var random = new Random(rows * 131 + cols + tokens);
        var weights = RandomWeights(random, rows * cols);
        weights.AsSpan(0, 64).Clear(); // a zero block
        var q = Nf4Quantizer.Quantize(weights);
        var reference = Dequantize(q, rows, cols);
        var x = Enumerable.Range(0, tokens * cols).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var bias = Enumerable.Range(0, rows).Select(i => (float)i / 7).ToArray();
        var y = new float[tokens * rows];
        using var pool = new CpuThreadPool(threads);
        With(q, rows, cols, w => Nf4MatMul.Multiply(w, x, tokens, y, bias, pool));
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double exact = bias[r], abs = Math.Abs(bias[r]);
                for (int c = 0; c < cols; c++)
                {
                    exact += (double)reference[r * cols + c] * x[t * cols + c];
                    abs += Math.Abs((double)reference[r * cols + c] * x[t * cols + c]);
                }
                Assert.True(Math.Abs(y[t * rows + r] - exact) <= Tolerance.DotProduct(cols, abs), $"token {t} row {r}: {y[t * rows + r]} vs {exact}");
            }
    }

    [Fact]
    public void VectorisedRowDecodeIsBitIdenticalToReference()
    {
        int rows = 4, cols = 256;
        var q = Nf4Quantizer.Quantize(RandomWeights(new Random(9), rows * cols));
        var reference = Dequantize(q, rows, cols);
        var row = new float[cols];
        With(q, rows, cols, w =>
        {
            for (int r = 0; r < rows; r++)
            {
                fixed (float* p = row) Nf4MatMul.DequantizeRow(w, r, p);
                Assert.Equal(reference.AsSpan(r * cols, cols).ToArray(), row);
            }
        });
    }

    private static float[] RandomWeights(Random random, int n)
    {
        var w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, -(i / 64 % 3)));
        return w;
    }

    internal static float[] Dequantize(Nf4Quantized q, int rows, int cols)
    {
        var values = new float[rows * cols];
        With(q, rows, cols, w => Int4Dequantizer.Nf4Rows(w, 0, rows, values));
        return values;
    }

    internal delegate void TensorAction(Nf4Tensor w);

    internal static void With(Nf4Quantized q, int rows, int cols, TensorAction action)
    {
        fixed (byte* c = q.Codes, a = q.AbsmaxCodes)
        fixed (float* b = q.CodeBook, nc = q.NestedCode, na = q.NestedAbsmax)
            action(Nf4Tensor.Nested(c, b, a, na, nc, q.NestedOffset, rows, cols, q.BlockSize, q.NestedBlockSize));
    }
}
