using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// Q4_K and Q6_K matrix products against a double-precision sum over the values the <see cref="Dequantizer"/> gives:
/// the fused kernels must compute the same dot product, differing only by float32 rounding.
/// </summary>
public sealed unsafe class KQuantMatMulTests
{
    /// <summary>
    /// Rows of K-quant blocks made of random bytes (every bit pattern of the quants, scales and mins is a valid
    /// block) with the f16 super-block scales overwritten by small finite values of either sign, a different magnitude
    /// per row. Corner blocks: d = dmin = 0; all quant and scale bits set (Q4_K: q = 15, sc = m = 63; Q6_K: q = 31,
    /// scale −1); all clear (Q6_K: q = −32, scale 0). Rows are padded with junk a kernel must not read.
    /// </summary>
    private static QuantTestWeights KQuantWeights(TensorType type, int rows, int cols, Random random)
    {
        int blockBytes = type.BlockBytes();
        int blocks = cols / 256;
        return new QuantTestWeights(type, rows, cols, random, (r, row) =>
        {
            double magnitude = Math.Pow(10, random.Next(-4, 0));
            for (int b = 0; b < blocks; b++)
            {
                var block = row.Slice(b * blockBytes, blockBytes);
                SetScales(type, block, RandomScale(random, magnitude), RandomScale(random, magnitude));
            }
            var corner = row.Slice((r + random.Next(blocks)) % blocks * blockBytes, blockBytes);
            switch (r % 4)
            {
                case 0: SetScales(type, corner, Half.Zero, Half.Zero); break;
                case 1:
                    corner.Fill(0xFF);
                    SetScales(type, corner, RandomScale(random, magnitude), RandomScale(random, magnitude));
                    break;
                case 2:
                    corner.Clear();
                    SetScales(type, corner, RandomScale(random, magnitude), RandomScale(random, magnitude));
                    break;
            }
        });
    }

    private static Half RandomScale(Random random, double magnitude) =>
        (Half)(magnitude * (0.5 + random.NextDouble() / 2) * (random.Next(2) == 0 ? -1 : 1));

    /// <summary>Q4_K keeps d and dmin in its first four bytes; Q6_K keeps d in its last two.</summary>
    private static void SetScales(TensorType type, Span<byte> block, Half d, Half dmin)
    {
        if (type == TensorType.Q4_K)
        {
            BitConverter.TryWriteBytes(block[..2], d);
            BitConverter.TryWriteBytes(block.Slice(2, 2), dmin);
        }
        else BitConverter.TryWriteBytes(block[208..], d);
    }

    public static TheoryData<TensorType, int, int, int> MatVecCases()
    {
        var data = new TheoryData<TensorType, int, int, int>();
        int[][] shapes = [[1, 256], [3, 256], [7, 512], [33, 512], [5, 3584], [13, 4864], [9, 4864]];
        foreach (var type in new[] { TensorType.Q4_K, TensorType.Q6_K })
            foreach (var s in shapes)
                foreach (int threads in new[] { 1, 2 })
                    data.Add(type, s[0], s[1], threads);
        return data;
    }

    [Theory]
    [MemberData(nameof(MatVecCases))]
    public void MatVecMatchesDoubleReferenceOverDequantizedWeights(TensorType type, int rows, int cols, int threads)
    {
        var random = new Random(rows * 7919 + cols * 31 + (int)type);
        KQuantWeights(type, rows, cols, random).AssertMatVecMatchesReference(random, threads);
    }

    [Theory]
    [InlineData(TensorType.Q4_K, 2, 7, 256, 1)]
    [InlineData(TensorType.Q4_K, 5, 33, 512, 2)]
    [InlineData(TensorType.Q4_K, 9, 11, 3584, 2)]
    [InlineData(TensorType.Q6_K, 2, 7, 256, 2)]
    [InlineData(TensorType.Q6_K, 5, 33, 512, 1)]
    [InlineData(TensorType.Q6_K, 9, 11, 4864, 2)]
    public void MultiplyMatchesDoubleReferenceOverDequantizedWeights(TensorType type, int tokens, int rows, int cols, int threads)
    {
        var random = new Random(tokens * 131 + rows * 17 + cols);
        KQuantWeights(type, rows, cols, random).AssertMultiplyMatchesReference(random, tokens, threads);
    }

    /// <summary>
    /// Hand-built blocks checked against values worked out here, not through the Dequantizer, with x = 1, 2, …, 256.
    /// Q4_K: d = 0.5, dmin = 0.25; every sub-block has scale 1 and min 0 except sub-block 5 (scale 17: its top two
    /// bits live in byte 1) and sub-block 7 (min 35: low nibble 3 in byte 11, top bits 2 in byte 7); quant byte l of
    /// each group holds l mod 16 (low nibble, sub-block 2g) and 15 − l mod 16 (high nibble, sub-block 2g+1).
    /// Q6_K: d = 0.25, every quant 48 − 32 = 16 (ql = 0, qh = 0xFF), and the 16 scales −8..7 cover elements in
    /// runs of 16. All values and partial sums are small multiples of 1/4: exact in float32.
    /// </summary>
    [Fact]
    public void HandBuiltBlocksGiveTheHandComputedDot()
    {
        float[] x = Enumerable.Range(1, 256).Select(i => (float)i).ToArray();

        var q4 = new byte[144];
        BitConverter.TryWriteBytes(q4.AsSpan(0, 2), (Half)0.5f);
        BitConverter.TryWriteBytes(q4.AsSpan(2, 2), (Half)0.25f);
        byte[] scaleBytes = [1, 1 | 0x40, 1, 1, 0, 0, 0, 0x80, 0x01, 0x01, 0x01, 0x31];
        scaleBytes.CopyTo(q4, 4);
        for (int group = 0; group < 4; group++)
            for (int l = 0; l < 32; l++)
                q4[16 + 32 * group + l] = (byte)(l % 16 | (15 - l % 16) << 4);
        int[] subScale = [1, 1, 1, 1, 1, 17, 1, 1], subMin = [0, 0, 0, 0, 0, 0, 0, 35];
        double expected4 = 0;
        for (int e = 0; e < 256; e++)
        {
            int sub = e / 32, l = e % 32;
            int q = sub % 2 == 0 ? l % 16 : 15 - l % 16;
            expected4 += (0.5 * subScale[sub] * q - 0.25 * subMin[sub]) * x[e];
        }

        var q6 = new byte[210];
        q6.AsSpan(128, 64).Fill(0xFF);
        for (int i = 0; i < 16; i++) q6[192 + i] = (byte)(sbyte)(i - 8);
        BitConverter.TryWriteBytes(q6.AsSpan(208, 2), (Half)0.25f);
        double expected6 = 0;
        for (int e = 0; e < 256; e++) expected6 += 0.25 * (e / 16 - 8) * 16 * x[e];

        Assert.Equal(expected4, MatVec1(TensorType.Q4_K, q4, x));
        Assert.Equal(expected6, MatVec1(TensorType.Q6_K, q6, x));
    }

    private static float MatVec1(TensorType type, byte[] block, float[] x)
    {
        var y = new float[1];
        fixed (byte* data = block) MatMul.MatVec(WeightMatrix.Contiguous(type, data, 1, 256), x, y);
        return y[0];
    }

    [Theory]
    [InlineData(TensorType.Q4_K, 896)]
    [InlineData(TensorType.Q4_K, 128)]
    [InlineData(TensorType.Q6_K, 896)]
    [InlineData(TensorType.Q6_K, 32)]
    public void ColumnsThatAreNotWholeBlocksAreRejected(TensorType type, int cols)
    {
        var bytes = new byte[4096];
        fixed (byte* data = bytes)
        {
            byte* pointer = data;
            var e = Assert.Throws<ArgumentException>(() => new WeightMatrix(type, pointer, 2, cols, 2048));
            Assert.Contains($"{cols} columns", e.Message);
            Assert.Contains(type.ToString(), e.Message);
        }
    }
}
