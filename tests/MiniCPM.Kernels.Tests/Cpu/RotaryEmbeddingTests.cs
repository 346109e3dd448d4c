using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed class RotaryEmbeddingTests
{
    private const double U = Tolerance.U;

    [Theory]
    [InlineData(1, 2, 0, 10000f)]
    [InlineData(3, 64, 1, 10000f)]
    [InlineData(2, 128, 17, 1000000f)]
    [InlineData(4, 128, 4095, 1000000f)]
    [InlineData(1, 72, 257, 10000f)]
    public void RotatesHalvesAsHuggingFaceDoes(int heads, int headDim, int position, float theta)
    {
        var random = new Random(heads * 31 + headDim + position);
        float[] x = TestWeights.RandomVector(random, heads * headDim, 2);
        var y = (float[])x.Clone();
        new RotaryEmbedding(headDim, theta).Apply(y, heads, position);

        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
            {
                // The angle as HF forms it in float32 (exponent, power, reciprocal, product each rounded to float);
                // cos and sin of that angle in double.
                float exponent = (float)(2 * i) / headDim;
                float inverseFrequency = (float)(1.0 / (float)Math.Pow(theta, exponent));
                float angle = (float)((double)position * inverseFrequency);
                double cos = Math.Cos(angle), sin = Math.Sin(angle);
                double x1 = x[h * headDim + i], x2 = x[h * headDim + i + half];
                double first = x1 * cos - x2 * sin, second = x2 * cos + x1 * sin;
                // float cos/sin within an ulp each, two products and a sum rounded; MathF.Pow may differ from the
                // correctly rounded power by an ulp, which moves the angle by |angle|·2u.
                double tolerance = (4 * U + 2 * U * Math.Abs(angle)) * (Math.Abs(x1) + Math.Abs(x2));
                Assert.True(Math.Abs(y[h * headDim + i] - first) <= tolerance, $"head {h} [{i}]: {y[h * headDim + i]} vs {first}");
                Assert.True(Math.Abs(y[h * headDim + i + half] - second) <= tolerance, $"head {h} [{i + half}]");
            }
    }

    [Fact]
    public void PositionZeroIsIdentityAndFrequenciesFollowTheFormula()
    {
        var rope = new RotaryEmbedding(8, 10000f);
        float[] x = [1, 2, 3, 4, 5, 6, 7, 8];
        var y = (float[])x.Clone();
        rope.Apply(y, 1, 0);
        Assert.Equal(x, y);
        Assert.Equal(1f, rope.InverseFrequencies[0]);
        Assert.Equal(0.1f, rope.InverseFrequencies[1], 7);   // 10000^(−2/8)
        Assert.Equal(0.001f, rope.InverseFrequencies[3], 9); // 10000^(−6/8)
    }

    [Fact]
    public void RowsUseTheirOwnPositions()
    {
        var rope = new RotaryEmbedding(4, 10000f);
        var random = new Random(3);
        float[] x = TestWeights.RandomVector(random, 3 * 2 * 4);
        var rows = (float[])x.Clone();
        rope.ApplyRows(rows, 3, 2, [5, 9, 2]);
        for (int t = 0; t < 3; t++)
        {
            var one = x.AsSpan(t * 8, 8).ToArray();
            rope.Apply(one, 2, new[] { 5, 9, 2 }[t]);
            Assert.Equal(one, rows.AsSpan(t * 8, 8).ToArray());
        }
    }
}
