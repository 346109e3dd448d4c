using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed class PrefixAttentionTests
{
    public enum Mask { None, Causal, Chunked, Padded }

    [Theory]
    [InlineData(Mask.None, 5, 7, 4, 4, 16)]
    [InlineData(Mask.None, 1, 1, 2, 1, 8)]
    [InlineData(Mask.Causal, 9, 9, 4, 2, 16)]
    [InlineData(Mask.Chunked, 12, 12, 2, 2, 8)]
    [InlineData(Mask.Padded, 6, 11, 3, 3, 32)]
    public void MatchesDoubleReferenceWithAMaterializedMask(Mask mask, int queryCount, int keyCount, int heads, int kvHeads, int headDim)
    {
        AssertMatchesReference(new Random(queryCount * 131 + keyCount * 17 + heads + (int)mask), mask, queryCount, keyCount,
            heads, kvHeads, headDim, VisibleKeys(mask, queryCount, keyCount), threadCounts: [1, 2]);
    }

    /// <summary>
    /// Long sequences through the blocked path: query tiles with a partial last tile and partial 4-row blocks, key
    /// counts that are not whole 32-key blocks, head dimensions that are and are not whole 16/64-float vectors, GQA,
    /// and every mask, including 50-key chunks whose boundaries cut through query tiles. The 1e-5 tolerance is the
    /// small case's, kept: each score is a float sum of headDim ≤ 128 products (relative error ~√128·2⁻²⁴ ≈ 7e-7 on
    /// scores of size ≤ 2·2·√d·scale ≈ 4, i.e. ≲ 3e-6 absolute before the exp), and each output a convex combination of
    /// ≤ 300 values of size ≤ 2, whose float rounding grows like √300·2⁻²⁴·2 ≈ 2e-6.
    /// </summary>
    [Theory]
    [InlineData(Mask.None, 300, 300, 2, 2, 72)]
    [InlineData(Mask.Causal, 300, 300, 2, 1, 64)]
    [InlineData(Mask.Chunked, 300, 300, 2, 2, 64)]
    [InlineData(Mask.Padded, 67, 300, 3, 3, 128)]
    [InlineData(Mask.None, 64, 1030, 2, 1, 20)]
    [InlineData(Mask.Causal, 33, 33, 1, 1, 1)]
    public void LongSequencesMatchTheDoubleReference(Mask mask, int queryCount, int keyCount, int heads, int kvHeads, int headDim)
    {
        AssertMatchesReference(new Random(queryCount * 7 + keyCount * 3 + headDim + (int)mask), mask, queryCount, keyCount,
            heads, kvHeads, headDim, VisibleKeys(mask, queryCount, keyCount, chunk: 50), threadCounts: [1, 2, 3]);
    }

    /// <summary>Random q, k, v in [−2, 2]; the blocked kernel with each pool size against the double reference.</summary>
    private static void AssertMatchesReference(Random random, Mask mask, int queryCount, int keyCount, int heads, int kvHeads,
        int headDim, int[] visible, int[] threadCounts)
    {
        float[] q = TestWeights.RandomVector(random, queryCount * heads * headDim, 2);
        float[] k = TestWeights.RandomVector(random, keyCount * kvHeads * headDim, 2);
        float[] v = TestWeights.RandomVector(random, keyCount * kvHeads * headDim, 2);
        float scale = 1f / MathF.Sqrt(headDim);
        double[] expected = Reference(q, k, v, queryCount, keyCount, heads, kvHeads, headDim, scale, visible);

        foreach (int threads in threadCounts)
        {
            using var pool = new CpuThreadPool(threads);
            var output = new float[queryCount * heads * headDim];
            PrefixAttention.Compute(q, k, v, output, queryCount, keyCount, heads, kvHeads, headDim, scale,
                mask == Mask.None ? default : visible, pool);
            for (int i = 0; i < output.Length; i++)
                Assert.True(Math.Abs(output[i] - expected[i]) <= 1e-5 + 1e-5 * Math.Abs(expected[i]),
                    $"{threads} threads, [{i}]: {output[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void AnUnsortedPrefixPerQueryIsHonoured()
    {
        // Prefixes need not grow with the query index: a tile mixes short and long rows in one 4-row block.
        var random = new Random(11);
        const int queries = 40, keyCount = 97, dim = 24;
        float[] q = TestWeights.RandomVector(random, queries * dim, 2);
        float[] k = TestWeights.RandomVector(random, keyCount * dim, 2);
        float[] v = TestWeights.RandomVector(random, keyCount * dim, 2);
        int[] visible = Enumerable.Range(0, queries).Select(i => 1 + (i * 37) % keyCount).ToArray();
        double[] expected = Reference(q, k, v, queries, keyCount, 1, 1, dim, 0.3f, visible);
        var output = new float[queries * dim];
        PrefixAttention.Compute(q, k, v, output, queries, keyCount, 1, 1, dim, 0.3f, visible);
        for (int i = 0; i < output.Length; i++)
            Assert.True(Math.Abs(output[i] - expected[i]) <= 1e-5 + 1e-5 * Math.Abs(expected[i]), $"[{i}]: {output[i]} vs {expected[i]}");
    }

    [Fact]
    public void ARowSeesNothingBeyondItsPrefix()
    {
        // Changing a key/value the query must not see leaves the output bit-identical.
        var random = new Random(5);
        float[] q = TestWeights.RandomVector(random, 2 * 8, 1), k = TestWeights.RandomVector(random, 4 * 8, 1), v = TestWeights.RandomVector(random, 4 * 8, 1);
        var before = new float[16];
        PrefixAttention.Compute(q, k, v, before, 2, 4, 1, 1, 8, 0.5f, [2, 3]);
        for (int i = 3 * 8; i < 4 * 8; i++) { k[i] += 100; v[i] -= 100; }
        var after = new float[16];
        PrefixAttention.Compute(q, k, v, after, 2, 4, 1, 1, 8, 0.5f, [2, 3]);
        Assert.Equal(before, after);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void AVisibleCountOutsideTheKeysIsRefused(int bad)
    {
        var buffer = new float[4 * 8];
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            PrefixAttention.Compute(buffer, buffer, buffer, new float[32], 4, 4, 1, 1, 8, 1f, [1, 2, bad, 4]));
    }

    private static int[] VisibleKeys(Mask mask, int queryCount, int keyCount, int chunk = 5) => mask switch
    {
        Mask.Causal => Enumerable.Range(1, queryCount).ToArray(),
        Mask.Chunked => Enumerable.Range(0, queryCount).Select(i => Math.Min(keyCount, (i / chunk + 1) * chunk)).ToArray(),
        Mask.Padded => Enumerable.Repeat(keyCount - 3, queryCount).ToArray(),
        _ => Enumerable.Repeat(keyCount, queryCount).ToArray(),
    };

    private static double[] Reference(float[] q, float[] k, float[] v, int queryCount, int keyCount, int heads, int kvHeads,
        int headDim, float scale, int[] visible)
    {
        int group = heads / kvHeads;
        var output = new double[queryCount * heads * headDim];
        for (int i = 0; i < queryCount; i++)
        for (int h = 0; h < heads; h++)
        {
            int kvHead = h / group;
            var scores = new double[keyCount];
            double max = double.NegativeInfinity;
            for (int j = 0; j < keyCount; j++)
            {
                if (j >= visible[i]) { scores[j] = double.NegativeInfinity; continue; }
                double dot = 0;
                for (int d = 0; d < headDim; d++)
                    dot += (double)q[(i * heads + h) * headDim + d] * k[(j * kvHeads + kvHead) * headDim + d];
                scores[j] = dot * scale;
                max = Math.Max(max, scores[j]);
            }
            double sum = scores.Sum(s => Math.Exp(s - max));
            for (int j = 0; j < keyCount; j++)
            {
                double p = Math.Exp(scores[j] - max) / sum;
                for (int d = 0; d < headDim; d++)
                    output[(i * heads + h) * headDim + d] += p * v[(j * kvHeads + kvHead) * headDim + d];
            }
        }
        return output;
    }
}
