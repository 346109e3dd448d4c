using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The tiled prefill attention against naive double-precision causal grouped-query attention: one batch of two
/// sequences over scattered cache blocks — 30 cached positions + 20 new rows (tiles of 16 and 4 rows; the second tile
/// starts at position 46, inside a 4-position block; two key tiles) and 0 cached + 19 new rows (16 + 3) — and, for
/// group size 1, against the per-row <see cref="PagedAttentionKernel"/> on the same input and through the dispatch
/// the model uses.
/// </summary>
[Collection(Simulator.Name)]
public sealed class PrefillAttentionKernelTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    [Theory]
    [InlineData(1, 64)]
    [InlineData(3, 32)]
    public void PrefillAttentionMatchesTheReference(int groupSize, int headDim)
    {
        const int blockSize = 4, blocks = 24, kvHeads = 2;
        int[][] sequenceBlocks = [[17, 3, 9, 0, 12, 6, 19, 1, 22, 5, 14, 10, 20], [4, 15, 8, 23, 11]];
        int[] cached = [30, 0], added = [20, 19];
        int heads = kvHeads * groupSize, kvWidth = kvHeads * headDim, queryStride = heads * headDim + 4;
        int rows = added.Sum();
        int[] tables = sequenceBlocks.SelectMany(b => b).ToArray();
        int[] tableStarts = new int[rows], positions = new int[rows], sequenceOf = new int[rows];
        var tileList = new List<int>();
        int tileCount = 0;
        for (int s = 0, row = 0, start = 0; s < added.Length; start += sequenceBlocks[s].Length, s++)
        {
            tileCount += PrefillAttentionKernel.AddTiles(tileList, row, added[s]);
            for (int t = 0; t < added[s]; t++, row++)
            {
                tableStarts[row] = start;
                positions[row] = cached[s] + t;
                sequenceOf[row] = s;
            }
        }
        Assert.Equal([0, 16, 16, 4, 20, 16, 36, 3], tileList);

        float[] query = Check.Random(rows * queryStride, 41), keys = Check.Random(blocks * blockSize * kvWidth, 42);
        float[] values = Check.Random(blocks * blockSize * kvWidth, 43);
        for (int i = 0; i < keys.Length; i++) keys[i] *= 3; // sharper softmax: the running max moves between key tiles
        float scale = 1f / MathF.Sqrt(headDim);

        var expected = PagedAttentionReference.Compute(query, queryStride, keys, values, kvWidth, positions,
            r => sequenceBlocks[sequenceOf[r]], blockSize, heads, groupSize, headDim, scale);

        using var queryBuffer = _device.Upload<float>(query);
        using var keyCache = _device.Upload<float>(keys);
        using var valueCache = _device.Upload<float>(values);
        using var pos = _device.Upload<int>(positions);
        using var starts = _device.Upload<int>(tableStarts);
        using var tableBuffer = _device.Upload<int>(tables);
        using var tiles = _device.Upload<int>(tileList.ToArray());
        using var output = _device.Allocate<float>(expected.Length);
        var args = new AttentionArgs
        {
            Query = queryBuffer.View, QueryStride = queryStride, Output = output.View, KeyCache = keyCache.View,
            ValueCache = valueCache.View, Positions = pos.View, TableStarts = starts.View, BlockTables = tableBuffer.View,
            Heads = heads, GroupSize = groupSize, HeadDim = headDim, BlockSize = blockSize, Scale = scale,
        };
        _device.Kernels.PrefillAttention(args, rows, tiles.View, tileCount);
        var tiled = Check.Download(_device, output.View, expected.Length);
        Check.Close(expected, tiled, absolute: 2e-6, relative: 1e-5);
        if (groupSize > 1) return; // the per-row kernel's 8-warp groups cost the simulator seconds per head

        using var perRow = _device.Allocate<float>(expected.Length);
        _device.Kernels.Attention(args with { Output = perRow.View }, rows);
        Check.Close(Check.Download(_device, perRow.View, expected.Length), tiled, absolute: 2e-6, relative: 1e-5);

        // The model's dispatch: more rows than the split-K scratch holds take the tiled kernel when given the tiles.
        using var split = new SplitAttentionScratch(_device, rows: 8, heads, headDim, maxContext: 64);
        using var dispatched = _device.Allocate<float>(expected.Length);
        long launches = _device.Kernels.Launches;
        Assert.False(_device.Kernels.Attention(args with { Output = dispatched.View }, rows, split, positions.Max() + 1,
            prefillTiles: new PrefillTiles(tiles.View, tileCount)));
        Assert.Equal(launches + 1, _device.Kernels.Launches);
        Assert.Equal(tiled, Check.Download(_device, dispatched.View, expected.Length));
    }
}
