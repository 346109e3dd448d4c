using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// RoPE + KV-cache write and the paged attention kernel: rows of two sequences with scattered, non-contiguous cache
/// blocks, checked against the CPU RoPE and a naive double-precision causal grouped-query attention.
/// </summary>
[Collection(Simulator.Name)]
public sealed class AttentionKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    [Theory]
    [InlineData(64)]
    [InlineData(128)]
    public void RopeCacheAndAttentionMatchTheReference(int headDim)
    {
        const int heads = 4, kvHeads = 2, blockSize = 4, blocks = 8;
        int groupSize = heads / kvHeads, kvWidth = kvHeads * headDim, half = headDim / 2;
        // Sequence A: 7 tokens in blocks 5, 1; sequence B: 3 tokens in block 6. All 10 rows are written this pass
        // (prefill of both), so each row attends to its own sequence's positions 0..p.
        int[] tables = [5, 1, 6];
        int[] positions = [0, 1, 2, 3, 4, 5, 6, 0, 1, 2];
        int[] tableStarts = [0, 0, 0, 0, 0, 0, 0, 2, 2, 2];
        int rows = positions.Length;
        int[] slots = new int[rows];
        for (int r = 0; r < rows; r++)
            slots[r] = tables[tableStarts[r] + positions[r] / blockSize] * blockSize + positions[r] % blockSize;

        float[] q = Check.Random(rows * heads * headDim, 1), k = Check.Random(rows * kvWidth, 2), v = Check.Random(rows * kvWidth, 3);
        var rope = new RotaryEmbedding(headDim, 10000f);
        float[] cos = new float[8 * half], sin = new float[8 * half];
        for (int p = 0; p < 8; p++) rope.CosSin(p, cos.AsSpan(p * half, half), sin.AsSpan(p * half, half));

        float[] qRef = (float[])q.Clone(), kRef = (float[])k.Clone();
        rope.ApplyRows(qRef, rows, heads, positions);
        rope.ApplyRows(kRef, rows, kvHeads, positions);
        float scale = 1f / MathF.Sqrt(headDim);
        var expected = new float[rows * heads * headDim];
        for (int r = 0; r < rows; r++)
        {
            int first = r - positions[r]; // the rows of one sequence are consecutive here
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / groupSize;
                var scores = new double[positions[r] + 1];
                for (int p = 0; p <= positions[r]; p++)
                {
                    double dot = 0;
                    for (int i = 0; i < headDim; i++)
                        dot += (double)qRef[(r * heads + h) * headDim + i] * kRef[(first + p) * kvWidth + kvh * headDim + i];
                    scores[p] = dot * scale;
                }
                double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                for (int i = 0; i < headDim; i++)
                {
                    double acc = 0;
                    for (int p = 0; p <= positions[r]; p++)
                        acc += Math.Exp(scores[p] - max) / sum * v[(first + p) * kvWidth + kvh * headDim + i];
                    expected[(r * heads + h) * headDim + i] = (float)acc;
                }
            }
        }

        // The fused projection's rows: [q | k | v].
        int stride = heads * headDim + 2 * kvWidth;
        var qkv = new float[rows * stride];
        for (int r = 0; r < rows; r++)
        {
            q.AsSpan(r * heads * headDim, heads * headDim).CopyTo(qkv.AsSpan(r * stride));
            k.AsSpan(r * kvWidth, kvWidth).CopyTo(qkv.AsSpan(r * stride + heads * headDim));
            v.AsSpan(r * kvWidth, kvWidth).CopyTo(qkv.AsSpan(r * stride + heads * headDim + kvWidth));
        }
        using var qkvBuffer = _device.Upload<float>(qkv);
        using var pos = _device.Upload<int>(positions);
        using var slotBuffer = _device.Upload<int>(slots);
        using var starts = _device.Upload<int>(tableStarts);
        using var tableBuffer = _device.Upload<int>(tables);
        using var cosBuffer = _device.Upload<float>(cos);
        using var sinBuffer = _device.Upload<float>(sin);
        using var keyCache = _device.Allocate<float>(blocks * blockSize * kvWidth);
        using var valueCache = _device.Allocate<float>(blocks * blockSize * kvWidth);
        using var output = _device.Allocate<float>(rows * heads * headDim);
        _device.Kernels.RopeAndCache(new RopeArgs
        {
            Qkv = qkvBuffer.View, RowStride = stride, Positions = pos.View, Slots = slotBuffer.View,
            Cos = cosBuffer.View, Sin = sinBuffer.View, KeyCache = keyCache.View, ValueCache = valueCache.View,
            Heads = heads, KvHeads = kvHeads, HeadDim = headDim,
        }, rows);
        var rotated = Check.Download(_device, qkvBuffer.View, qkv.Length);
        for (int r = 0; r < rows; r++)
        {
            Check.Close(qRef.AsSpan(r * heads * headDim, heads * headDim), rotated.AsSpan(r * stride, heads * headDim), absolute: 1e-6, relative: 1e-6);
            Check.Close(kRef.AsSpan(r * kvWidth, kvWidth), rotated.AsSpan(r * stride + heads * headDim, kvWidth), absolute: 1e-6, relative: 1e-6);
        }

        _device.Kernels.Attention(new AttentionArgs
        {
            Query = qkvBuffer.View, QueryStride = stride, Output = output.View, KeyCache = keyCache.View, ValueCache = valueCache.View,
            Positions = pos.View, TableStarts = starts.View, BlockTables = tableBuffer.View,
            Heads = heads, GroupSize = groupSize, HeadDim = headDim, BlockSize = blockSize, Scale = scale,
        }, rows);
        Check.Close(expected, Check.Download(_device, output.View, expected.Length), absolute: 2e-6, relative: 1e-5);
    }
}
