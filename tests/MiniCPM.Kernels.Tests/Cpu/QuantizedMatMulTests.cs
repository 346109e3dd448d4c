using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// Q8_0, Q4_0, Q4_K and Q6_K matrix products against a double-precision sum over the values the
/// <see cref="Dequantizer"/> gives (<see cref="RandomQuantWeights"/>): the fused kernels must compute the same dot
/// product, differing only by float32 rounding.
/// </summary>
public sealed unsafe class QuantizedMatMulTests
{
    public static TheoryData<TensorType, int, int, int> MatVecCases()
    {
        var data = new TheoryData<TensorType, int, int, int>();
        int[][] legacyShapes = [[1, 32], [3, 32], [7, 64], [5, 96], [33, 64], [13, 4864], [9, 4864]];
        int[][] kShapes = [[1, 256], [3, 256], [7, 512], [33, 512], [5, 3584], [13, 4864], [9, 4864]];
        foreach (var type in new[] { TensorType.Q8_0, TensorType.Q4_0, TensorType.Q4_K, TensorType.Q6_K })
            foreach (var s in type is TensorType.Q4_K or TensorType.Q6_K ? kShapes : legacyShapes)
                foreach (int threads in new[] { 1, 2 })
                    data.Add(type, s[0], s[1], threads);
        return data;
    }

    [Theory]
    [MemberData(nameof(MatVecCases))]
    public void MatVecMatchesDoubleReferenceOverDequantizedWeights(TensorType type, int rows, int cols, int threads)
    {
        var random = new Random(rows * 7919 + cols * 31 + (int)type);
        RandomQuantWeights.For(type, rows, cols, random).AssertMatVecMatchesReference(random, threads);
    }

    [Theory]
    [InlineData(TensorType.Q8_0, 2, 7, 32, 1)]
    [InlineData(TensorType.Q8_0, 5, 33, 64, 2)]
    [InlineData(TensorType.Q8_0, 9, 11, 4864, 2)]
    [InlineData(TensorType.Q4_0, 2, 7, 32, 2)]
    [InlineData(TensorType.Q4_0, 5, 33, 64, 1)]
    [InlineData(TensorType.Q4_0, 9, 11, 4864, 2)]
    [InlineData(TensorType.Q4_K, 2, 7, 256, 1)]
    [InlineData(TensorType.Q4_K, 5, 33, 512, 2)]
    [InlineData(TensorType.Q4_K, 9, 11, 3584, 2)]
    [InlineData(TensorType.Q6_K, 2, 7, 256, 2)]
    [InlineData(TensorType.Q6_K, 5, 33, 512, 1)]
    [InlineData(TensorType.Q6_K, 9, 11, 4864, 2)]
    public void MultiplyMatchesDoubleReferenceOverDequantizedWeights(TensorType type, int tokens, int rows, int cols, int threads)
    {
        var random = new Random(tokens * 131 + rows * 17 + cols);
        RandomQuantWeights.For(type, rows, cols, random).AssertMultiplyMatchesReference(random, tokens, threads);
    }

    /// <summary>
    /// Hand-built blocks, checked against values worked out here rather than through the Dequantizer: Q4_0 with
    /// d = 0.5 and quants 0..15 (values −4..3.5; low nibbles are elements 0..15), Q8_0 with d = 0.25 and quants
    /// −128..127 in steps, against x = 1, 2, 3, ….
    /// </summary>
    [Fact]
    public void HandBuiltBlocksGiveTheHandComputedDot()
    {
        float[] x = Enumerable.Range(1, 32).Select(i => (float)i).ToArray();

        var q4 = new byte[18];
        BitConverter.TryWriteBytes(q4.AsSpan(0, 2), (Half)0.5f);
        double expected4 = 0;
        for (int j = 0; j < 16; j++)
        {
            int low = j, high = 15 - j;
            q4[2 + j] = (byte)(low | (high << 4));
            expected4 += (low - 8) * 0.5 * x[j] + (high - 8) * 0.5 * x[j + 16];
        }

        var q8 = new byte[34];
        BitConverter.TryWriteBytes(q8.AsSpan(0, 2), (Half)0.25f);
        double expected8 = 0;
        for (int j = 0; j < 32; j++)
        {
            sbyte q = (sbyte)(j == 0 ? -128 : j == 31 ? 127 : (j - 16) * 7);
            q8[2 + j] = (byte)q;
            expected8 += q * 0.25 * x[j];
        }

        // Small integers and halves: every partial sum is exact in float32.
        Assert.Equal(expected4, QuantTestWeights.MatVec1(TensorType.Q4_0, q4, x));
        Assert.Equal(expected8, QuantTestWeights.MatVec1(TensorType.Q8_0, q8, x));
    }

    [Theory]
    [InlineData(TensorType.Q8_0, 33)]
    [InlineData(TensorType.Q4_0, 48)]
    [InlineData(TensorType.Q4_0, 16)]
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
