using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Formats.Int4;
using MiniCPM.Kernels.Tests.Cpu;

namespace MiniCPM.Kernels.Tests.Int4;

/// <summary>GPTQ (AutoGPTQ) decoding by hand, the quantizer's error bound, and the fused kernels against the reference.</summary>
public sealed unsafe class GptqTests
{
    [Theory]
    [InlineData(1, 4f)]  // old "gptq" format: stored zero 7 means 8
    [InlineData(0, 5f)]  // gptq_v2: stored zero 7 is 7
    public void DequantizesHandBuiltWeight(int zeroOffset, float expected)
    {
        // out 8, in 16, two groups of 8 inputs.
        var qweight = new int[2 * 8];
        var qzeros = new int[2 * 1];
        var scales = new ushort[2 * 8];
        int[] gIdx = Enumerable.Range(0, 16).Select(i => i / 8).ToArray();
        // q(i = 11, o = 5) = 12: qweight row 11/8 = 1, column 5, bits 4·(11 mod 8) = 12..15.
        qweight[1 * 8 + 5] = 12 << 12;
        // group 1, output 5: stored zero 7 at bits 20..23 of qzeros[1, 0]; output 6: stored 15.
        qzeros[1] = 7 << 20 | 15 << 24;
        scales[1 * 8 + 5] = Fp16.FromFloat(1f);
        scales[1 * 8 + 6] = Fp16.FromFloat(0.5f);
        var w = Dequantize(qweight, qzeros, scales, gIdx, 8, 16, 2, zeroOffset);
        Assert.Equal(expected, w[5 * 16 + 11]);
        // q = 0 with stored zero 15: v1 reads 16 (the mask applies before the +1), so 0.5·(0 − 16) = −8.
        Assert.Equal(zeroOffset == 1 ? -8f : -7.5f, w[6 * 16 + 11]);
        Assert.Equal(0f, w[0]); // scale 0 elsewhere
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void QuantizeThenDequantizeStaysWithinHalfAStep(bool symmetric)
    {
        var random = new Random(3);
        int rows = 16, cols = 256, groupSize = 64;
        var weights = Enumerable.Range(0, rows * cols).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.05f).ToArray();
        var q = GptqQuantizer.Quantize(weights, rows, cols, groupSize, symmetric, zeroOffset: 1);
        var values = Dequantize(q, rows, cols);
        for (int o = 0; o < rows; o++)
            for (int i = 0; i < cols; i++)
            {
                double scale = Fp16.ToFloat(q.Scales[i / groupSize * rows + o]);
                Assert.True(Math.Abs(values[o * cols + i] - weights[o * cols + i]) <= 0.5 * scale * 1.01, $"({o}, {i})");
            }
        if (symmetric) Assert.All(q.QZeros, z => Assert.Equal(0x77777777, z)); // zero 8 stored as 7, the AutoGPTQ signature
    }

    public static TheoryData<int, int, int, int, bool> KernelCases() => new()
    {
        { 16, 64, 1, 1, false }, { 24, 128, 1, 2, false }, { 64, 256, 1, 2, true }, { 40, 512, 1, 1, false },
        { 128, 256, 1, 2, false }, { 88, 128, 1, 1, false }, // four-tile path, then single tiles and the 8-output remainder
        { 16, 64, 3, 1, false }, { 24, 384, 5, 2, true }, { 48, 256, 9, 2, false }, { 8, 64, 2, 1, true },
    };

    [Theory]
    [MemberData(nameof(KernelCases))]
    public void KernelMatchesDoubleReferenceOverDequantizedWeights(int rows, int cols, int tokens, int threads, bool actOrder)
    {
        var random = new Random(rows * 17 + cols + tokens);
        var weights = Enumerable.Range(0, rows * cols).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.1f).ToArray();
        int groupSize = Math.Min(64, cols / 2);
        // Act-order: each input's group is shuffled (what desc_act checkpoints carry in g_idx).
        int[]? gIdx = actOrder ? Enumerable.Range(0, cols).Select(i => i / groupSize).OrderBy(_ => random.Next()).ToArray() : null;
        var q = GptqQuantizer.Quantize(weights, rows, cols, groupSize, symmetric: !actOrder, zeroOffset: 1, groupIndex: gIdx);
        var reference = Dequantize(q, rows, cols);
        var x = Enumerable.Range(0, tokens * cols).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var bias = Enumerable.Range(0, rows).Select(i => (float)i / 5).ToArray();
        var y = new float[tokens * rows];
        using var pool = new CpuThreadPool(threads);
        With(q, rows, cols, w =>
        {
            Assert.Equal(actOrder ? 0 : groupSize, w.ContiguousGroupSize);
            GptqMatMul.Multiply(w, x, tokens, y, bias, pool);
        });
        for (int t = 0; t < tokens; t++)
            for (int o = 0; o < rows; o++)
            {
                double exact = bias[o], abs = Math.Abs(bias[o]);
                for (int i = 0; i < cols; i++)
                {
                    exact += (double)reference[o * cols + i] * x[t * cols + i];
                    // The one-token kernel sums scale·q·x and scale·zero·x separately: bound by both magnitudes.
                    double scale = Fp16.ToFloat(q.Scales[q.GroupIndex[i] * rows + o]);
                    abs += scale * (15 + 16) * Math.Abs(x[t * cols + i]);
                }
                Assert.True(Math.Abs(y[t * rows + o] - exact) <= Tolerance.DotProduct(cols, abs), $"token {t} output {o}: {y[t * rows + o]} vs {exact}");
            }
    }

    private static float[] Dequantize(int[] qweight, int[] qzeros, ushort[] scales, int[] gIdx, int rows, int cols, int groups, int zeroOffset) =>
        Dequantize(new GptqQuantized(qweight, qzeros, scales, gIdx, groups, zeroOffset), rows, cols);

    internal static float[] Dequantize(GptqQuantized q, int rows, int cols)
    {
        var values = new float[rows * cols];
        With(q, rows, cols, w => Int4Dequantizer.GptqRows(w, 0, rows, values));
        return values;
    }

    internal delegate void TensorAction(GptqTensor w);

    internal static void With(GptqQuantized q, int rows, int cols, TensorAction action)
    {
        fixed (int* qw = q.QWeight, qz = q.QZeros, g = q.GroupIndex)
        fixed (ushort* s = q.Scales)
            action(new GptqTensor(qw, qz, s, g, rows, cols, q.Groups, q.ZeroOffset));
    }
}
