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

    /// <summary>
    /// The split-K decode path against naive double attention (and, for group sizes 1 and 2, against the
    /// one-group-per-head kernel): four
    /// sequences decoding at once (contexts 30, 16, 9 and 1 — several chunks, an exact chunk boundary, a one-position
    /// last chunk, a one-position context) over scattered cache blocks, with a tiny chunk so the simulator stays fast.
    /// </summary>
    [Theory]
    [InlineData(1, 64, 8)]
    [InlineData(2, 128, 8)]
    [InlineData(7, 64, 8)]
    [InlineData(7, 128, 0)] // the chunk size the scratch picks (one 32-position chunk here)
    public void SplitDecodeAttentionMatchesTheReference(int groupSize, int headDim, int chunkSize) =>
        ExpectSplitAttentionToMatchTheReference(groupSize, headDim, chunkSize, kvHeads: 2,
            // Each sequence's blocks, scattered over the cache.
            [[17, 3, 9, 0, 12, 6, 19, 1], [4, 15, 8, 10], [2, 14, 7], [11]], contexts: [30, 16, 9, 1]);

    /// <summary>
    /// One-position chunks over a 45-position context: the merge walks its chunks' factors 32 at a time, and a head of
    /// 32 dimensions leaves 24 of a warp's lanes without a dimension.
    /// </summary>
    [Fact]
    public void SplitDecodeAttentionMergesMoreThan32Chunks() =>
        ExpectSplitAttentionToMatchTheReference(groupSize: 3, headDim: 32, chunkSize: 1, kvHeads: 1,
            [[5, 12, 0, 18, 7, 3, 14, 9, 1, 16, 11, 4]], contexts: [45]);

    private void ExpectSplitAttentionToMatchTheReference(int groupSize, int headDim, int chunkSize, int kvHeads,
        int[][] sequenceBlocks, int[] contexts)
    {
        const int blockSize = 4, blocks = 20;
        int heads = kvHeads * groupSize, kvWidth = kvHeads * headDim, queryStride = heads * headDim + 4;
        int rows = contexts.Length;
        int[] tables = sequenceBlocks.SelectMany(b => b).ToArray();
        int[] tableStarts = new int[rows], positions = new int[rows];
        for (int r = 0, start = 0; r < rows; start += sequenceBlocks[r].Length, r++)
        {
            tableStarts[r] = start;
            positions[r] = contexts[r] - 1;
        }
        float[] query = Check.Random(rows * queryStride, 31), keys = Check.Random(blocks * blockSize * kvWidth, 32);
        float[] values = Check.Random(blocks * blockSize * kvWidth, 33);
        for (int i = 0; i < keys.Length; i++) keys[i] *= 3; // sharper softmax: chunk maxima differ a lot
        float scale = 1f / MathF.Sqrt(headDim);

        var expected = PagedAttentionReference.Compute(query, queryStride, keys, values, kvWidth, positions,
            r => sequenceBlocks[r], blockSize, heads, groupSize, headDim, scale);

        using var queryBuffer = _device.Upload<float>(query);
        using var keyCache = _device.Upload<float>(keys);
        using var valueCache = _device.Upload<float>(values);
        using var pos = _device.Upload<int>(positions);
        using var starts = _device.Upload<int>(tableStarts);
        using var tableBuffer = _device.Upload<int>(tables);
        using var splitOutput = _device.Allocate<float>(expected.Length);
        using var groupOutput = _device.Allocate<float>(expected.Length);
        using var scratch = new SplitAttentionScratch(_device, rows, heads, headDim, maxContext: 64);
        var args = new AttentionArgs
        {
            Query = queryBuffer.View, QueryStride = queryStride, Output = splitOutput.View, KeyCache = keyCache.View,
            ValueCache = valueCache.View, Positions = pos.View, TableStarts = starts.View, BlockTables = tableBuffer.View,
            Heads = heads, GroupSize = groupSize, HeadDim = headDim, BlockSize = blockSize, Scale = scale,
        };
        Assert.True(GpuKernels.CanSplit(args, rows, scratch));
        _device.Kernels.Attention(args, rows, scratch, longestContext: contexts.Max(), chunkSize);
        var split = Check.Download(_device, splitOutput.View, expected.Length);
        Check.Close(expected, split, absolute: 2e-6, relative: 1e-5);
        ExpectTheMergeToQuantizeItsOutput(args with { Output = groupOutput.View }, rows, scratch, contexts.Max(), chunkSize, split);
        ExpectTheMergeInTheTailToMatch(args with { Output = groupOutput.View }, rows, scratch, contexts.Max(), chunkSize, split);
        if (groupSize > 2) return; // the per-head kernel's 8-warp groups cost the simulator seconds at 14 heads
        _device.Kernels.Attention(args with { Output = groupOutput.View }, rows);
        Check.Close(Check.Download(_device, groupOutput.View, expected.Length), split, absolute: 2e-6, relative: 1e-5);
    }

    /// <summary>
    /// The merge in the split kernel's tail (one launch): the two-launch path's floats bit for bit, twice in a row (the
    /// last group of each (row, KV head) put its counter back), and with int8 blocks byte-identical to the merge
    /// launch's.
    /// </summary>
    private void ExpectTheMergeInTheTailToMatch(AttentionArgs args, int rows, SplitAttentionScratch scratch, int longestContext,
        int chunkSize, float[] twoLaunches)
    {
        int width = args.Heads * args.HeadDim;
        for (int run = 0; run < 2; run++)
        {
            ILGPU.Runtime.ArrayViewExtensions.MemSetToZero(args.Output);
            long before = _device.Kernels.Launches;
            Assert.False(_device.Kernels.Attention(args, rows, scratch, longestContext, chunkSize, mergeInTail: true));
            Assert.Equal(1, _device.Kernels.Launches - before);
            FusedInt8ProducerTests.AssertSameBits(twoLaunches, Check.Download(_device, args.Output, twoLaunches.Length));
        }
        if (args.HeadDim % 32 != 0) return;
        using var tail = new Int8Buffer(_device, rows, width);
        using var launch = new Int8Buffer(_device, rows, width);
        Assert.True(_device.Kernels.Attention(args, rows, scratch, longestContext, chunkSize, tail.For(width), mergeInTail: true));
        FusedInt8ProducerTests.AssertSameBits(twoLaunches, Check.Download(_device, args.Output, twoLaunches.Length));
        Assert.True(_device.Kernels.Attention(args, rows, scratch, longestContext, chunkSize, launch.For(width)));
        FusedInt8ProducerTests.AssertSameBlocks(launch.For(width), tail.For(width), rows * width / 32);
    }

    /// <summary>
    /// The merge that also writes the output's int8 blocks (for the o projection): the same floats bit for bit, and
    /// blocks byte-identical to the standalone quantizer run over those floats.
    /// </summary>
    private void ExpectTheMergeToQuantizeItsOutput(AttentionArgs args, int rows, SplitAttentionScratch scratch, int longestContext,
        int chunkSize, float[] unquantized)
    {
        int width = args.Heads * args.HeadDim;
        using var fused = new Int8Buffer(_device, rows, width);
        using var separate = new Int8Buffer(_device, rows, width);
        Assert.True(_device.Kernels.Attention(args, rows, scratch, longestContext, chunkSize, fused.For(width)));
        FusedInt8ProducerTests.AssertSameBits(unquantized, Check.Download(_device, args.Output, unquantized.Length));
        _device.Kernels.QuantizeInt8(args.Output, rows, width, separate.For(width));
        FusedInt8ProducerTests.AssertSameBlocks(separate.For(width), fused.For(width), rows * width / 32);
    }
}
