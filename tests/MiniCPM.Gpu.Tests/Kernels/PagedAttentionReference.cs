namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// Causal grouped-query attention over a paged cache in double precision, the independent reference the attention
/// kernel tests hold the GPU to: row r attends to positions 0..positions[r] of its sequence, whose block list is
/// <c>blocksOfRow(r)</c>; query head h reads KV head h / groupSize. Returns [rows, heads·headDim].
/// </summary>
internal static class PagedAttentionReference
{
    public static float[] Compute(float[] query, int queryStride, float[] keys, float[] values, int kvWidth,
        int[] positions, Func<int, int[]> blocksOfRow, int blockSize, int heads, int groupSize, int headDim, float scale)
    {
        int rows = positions.Length;
        var expected = new float[rows * heads * headDim];
        for (int r = 0; r < rows; r++)
        {
            int context = positions[r] + 1;
            int[] blocks = blocksOfRow(r);
            var slot = new long[context];
            for (int p = 0; p < context; p++) slot[p] = (long)blocks[p / blockSize] * blockSize + p % blockSize;
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / groupSize;
                var scores = new double[context];
                for (int p = 0; p < context; p++)
                {
                    double dot = 0;
                    for (int i = 0; i < headDim; i++)
                        dot += (double)query[r * queryStride + h * headDim + i] * keys[slot[p] * kvWidth + kvh * headDim + i];
                    scores[p] = dot * scale;
                }
                double max = scores.Max(), sum = scores.Sum(x => Math.Exp(x - max));
                for (int i = 0; i < headDim; i++)
                {
                    double acc = 0;
                    for (int p = 0; p < context; p++) acc += Math.Exp(scores[p] - max) / sum * values[slot[p] * kvWidth + kvh * headDim + i];
                    expected[(r * heads + h) * headDim + i] = (float)acc;
                }
            }
        }
        return expected;
    }
}
