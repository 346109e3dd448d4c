using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed unsafe class EmbeddingAndElementwiseTests
{
    [Theory]
    [InlineData(TensorType.F32, 1)]
    [InlineData(TensorType.F16, 17)]
    [InlineData(TensorType.BF16, 257)]
    [InlineData(TensorType.F16, 1000)]
    public void GatherWidensTheSelectedRowsExactly(TensorType type, int cols)
    {
        var random = new Random(cols);
        var table = new TestWeights(type, 10, cols, random, padBytes: 4);
        int[] ids = [7, 0, 9, 7, 3];
        var output = new float[ids.Length * cols];
        fixed (byte* data = table.Bytes)
            Embedding.Gather(new WeightMatrix(type, data, 10, cols, table.RowStride), ids, output);
        for (int t = 0; t < ids.Length; t++)
            for (int c = 0; c < cols; c++)
                Assert.Equal(table.Exact[ids[t], c], (double)output[t * cols + c]);
    }

    [Fact]
    public void GatherRejectsIdsOutsideTheTable()
    {
        var table = new byte[4 * 3 * 4];
        fixed (byte* data = table)
        {
            var matrix = WeightMatrix.Contiguous(TensorType.F32, data, 4, 3);
            Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Gather(matrix, [4], new float[3]));
            Assert.Throws<ArgumentOutOfRangeException>(() => Embedding.Gather(matrix, [-1], new float[3]));
        }
    }

    [Fact]
    public void AddScaleAndMultiplyAreElementwise()
    {
        float[] a = [1, 2, 3], b = [0.5f, -2, 10];
        var y = new float[3];
        Elementwise.Add(a, b, y);
        Assert.Equal([1.5f, 0, 13], y);
        Elementwise.Scale(a, -2, y);
        Assert.Equal([-2f, -4, -6], y);
        Elementwise.Multiply(a, b, y);
        Assert.Equal([0.5f, -4, 30], y);
        Elementwise.Add(a, a, a); // in place
        Assert.Equal([2f, 4, 6], a);
    }
}
