using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Gpu.Tests.Kernels;

/// <summary>
/// The q|k|v projection with RoPE and the KV-cache write fused into its epilogue (<see cref="GpuKernels.MatMulInt8RopeAndCache"/>,
/// <see cref="GpuKernels.MatMulRopeAndCache"/>) against the plain product followed by <see cref="GpuKernels.RopeAndCache"/>
/// (each checked against references elsewhere: Int8MatVecKernelTests, MatMulKernelTests, AttentionKernelTests). Same
/// dot products in the same order, same bias add, same rotation code: the whole Qkv buffer and both caches must match
/// bit for bit. Several tokens at different positions and scattered cache slots, GQA, every int8 format and float
/// weights, head dims 32/64/128, short rows (one warp per team) and long rows (the group's four warps), and a
/// projection split into dtype runs as Q4_K_M/Q5_K_M files have (Q6_K values).
/// </summary>
[Collection(Simulator.Name)]
public sealed class RopeCacheProjectionTests(SimulatorDevice simulator)
{
    private readonly GpuDevice _device = simulator.Device;

    /// <summary>Per case: int8 activations or float, the q|k weights' type, the v weights' type (a second matrix when
    /// different), head dim, heads, KV heads, columns, tokens, with bias.</summary>
    public static TheoryData<bool, TensorType, TensorType, int, int, int, int, int, bool> Cases => new()
    {
        { true, TensorType.Q4_0, TensorType.Q4_0, 32, 2, 1, 128, 4, true },
        { true, TensorType.Q8_0, TensorType.Q8_0, 64, 1, 1, 64, 2, true },
        { true, TensorType.Q4_K, TensorType.Q6_K, 32, 4, 2, 256, 2, false }, // Q4_K_M's layout: two launches, v from column 192
        { true, TensorType.Q6_K, TensorType.Q6_K, 128, 1, 1, 256, 1, true },
        { true, TensorType.Q4_0, TensorType.Q4_0, 32, 1, 1, 8192, 1, true }, // long rows: four warps per row pair
        { false, TensorType.F16, TensorType.F16, 32, 2, 1, 64, 5, true }, // two token groups: 4 tokens, then 1
        { false, TensorType.Q5_K, TensorType.Q6_K, 64, 2, 1, 256, 3, false }, // Q5_K_M's layout
        { false, TensorType.BF16, TensorType.BF16, 32, 1, 1, 8192, 2, true }, // long rows
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheProductFollowedByRopeBitForBit(bool int8, TensorType qkType, TensorType vType, int headDim, int heads,
        int kvHeads, int cols, int tokens, bool withBias)
    {
        int kvWidth = kvHeads * headDim, qkRows = heads * headDim + kvWidth, width = qkRows + kvWidth, half = headDim / 2;
        const int maxPosition = 40, cacheSlots = 32;
        int[] positions = [.. new[] { 17, 0, 39, 5, 23 }.Take(tokens)];
        int[] slots = [.. new[] { 13, 2, 31, 7, 20 }.Take(tokens)]; // scattered over the paged cache

        // One matrix when q|k|v share a dtype, else q|k and v as separate dtype runs (FusedLinear's parts).
        (TensorType Type, int Rows, int Column)[] parts = qkType == vType
            ? [(qkType, width, 0)]
            : [(qkType, qkRows, 0), (vType, kvWidth, qkRows)];
        var matrices = parts.Select((p, i) => GpuMatrix.Upload(_device, p.Type, WeightBytes.Random(p.Type, p.Rows, cols, seed: 31 * i + cols + headDim), p.Rows, cols)).ToArray();
        float[] x = Check.Random(tokens * cols, seed: 3);
        float[] bias = Check.Random(width, seed: 4);
        var rope = new RotaryEmbedding(headDim, 1_000_000f);
        var cos = new float[maxPosition * half];
        var sin = new float[cos.Length];
        for (int p = 0; p < maxPosition; p++) rope.CosSin(p, cos.AsSpan(p * half, half), sin.AsSpan(p * half, half));
        // Both paths start from the same stale contents, so a value either forgets to write shows up.
        float[] staleQkv = Check.Random(tokens * width, seed: 5), staleCache = Check.Random(cacheSlots * kvWidth, seed: 6);

        using var xs = _device.Upload<float>(x);
        using var q = new Int8Buffer(_device, tokens, cols);
        using var biasBuffer = _device.Upload<float>(bias);
        using var positionBuffer = _device.Upload<int>(positions);
        using var slotBuffer = _device.Upload<int>(slots);
        using var cosBuffer = _device.Upload<float>(cos);
        using var sinBuffer = _device.Upload<float>(sin);
        using var plainQkv = _device.Upload<float>(staleQkv);
        using var plainKeys = _device.Upload<float>(staleCache);
        using var plainValues = _device.Upload<float>(staleCache);
        using var fusedQkv = _device.Upload<float>(staleQkv);
        using var fusedKeys = _device.Upload<float>(staleCache);
        using var fusedValues = _device.Upload<float>(staleCache);
        RopeArgs Args(ILGPU.ArrayView<float> qkv, ILGPU.ArrayView<float> keys, ILGPU.ArrayView<float> values) => new()
        {
            Qkv = qkv, RowStride = width, Positions = positionBuffer.View, Slots = slotBuffer.View, Cos = cosBuffer.View,
            Sin = sinBuffer.View, KeyCache = keys, ValueCache = values, Heads = heads, KvHeads = kvHeads, HeadDim = headDim,
        };
        ILGPU.ArrayView<float> Bias(int column, int rows) => withBias ? ((ILGPU.ArrayView<float>)biasBuffer.View).SubView(column, rows) : default;
        var kernels = _device.Kernels;
        if (int8) kernels.QuantizeInt8(xs.View, tokens, cols, q.For(cols));

        for (int i = 0; i < parts.Length; i++)
        {
            var y = ((ILGPU.ArrayView<float>)plainQkv.View).SubView(parts[i].Column);
            var partBias = Bias(parts[i].Column, parts[i].Rows);
            if (int8) kernels.MatMulInt8(matrices[i], q.For(cols), tokens, y, partBias, yStride: width);
            else kernels.MatMul(matrices[i], xs.View, tokens, y, partBias, yStride: width);
        }
        float[] product = Check.Download(_device, plainQkv.View, tokens * width);
        kernels.RopeAndCache(Args(plainQkv.View, plainKeys.View, plainValues.View), tokens);

        long before = kernels.Launches;
        var fusedArgs = Args(fusedQkv.View, fusedKeys.View, fusedValues.View);
        for (int i = 0; i < parts.Length; i++)
        {
            var partBias = Bias(parts[i].Column, parts[i].Rows);
            if (int8) kernels.MatMulInt8RopeAndCache(matrices[i], q.For(cols), tokens, fusedArgs, parts[i].Column, partBias);
            else kernels.MatMulRopeAndCache(matrices[i], xs.View, tokens, fusedArgs, parts[i].Column, partBias);
        }
        Assert.Equal(parts.Length, kernels.Launches - before);

        float[] fused = Check.Download(_device, fusedQkv.View, tokens * width);
        float[] fusedKeyCache = Check.Download(_device, fusedKeys.View, staleCache.Length);
        float[] fusedValueCache = Check.Download(_device, fusedValues.View, staleCache.Length);
        Assert.Equal(Bits(Check.Download(_device, plainQkv.View, tokens * width)), Bits(fused));
        Assert.Equal(Bits(Check.Download(_device, plainKeys.View, staleCache.Length)), Bits(fusedKeyCache));
        Assert.Equal(Bits(Check.Download(_device, plainValues.View, staleCache.Length)), Bits(fusedValueCache));

        // Not vacuous: each token's values reached its cache slot as the product made them, and q was rotated
        // wherever the position turns it.
        for (int t = 0; t < tokens; t++)
        {
            Assert.Equal(Bits(product.AsSpan(t * width + qkRows, kvWidth).ToArray()),
                Bits(fusedValueCache.AsSpan(slots[t] * kvWidth, kvWidth).ToArray()));
            Assert.NotEqual(Bits(staleCache.AsSpan(slots[t] * kvWidth, kvWidth).ToArray()),
                Bits(fusedKeyCache.AsSpan(slots[t] * kvWidth, kvWidth).ToArray()));
            bool rotated = !product.AsSpan(t * width, heads * headDim).SequenceEqual(fused.AsSpan(t * width, heads * headDim));
            Assert.Equal(positions[t] != 0, rotated);
        }
        foreach (var m in matrices) m.Dispose();
    }

    [Fact]
    public void RefusesRowsThatAreNotWholeHeadsOfTheRow()
    {
        // Two heads of 32 (64 rows) of a q|k|v row of 2 + 2·1 heads (128 columns).
        using var matrix = GpuMatrix.Upload(_device, TensorType.Q8_0, WeightBytes.Random(TensorType.Q8_0, 64, 32, seed: 1), 64, 32);
        using var q = new Int8Buffer(_device, 1, 32);
        var args = new RopeArgs { RowStride = 128, Heads = 2, KvHeads = 1, HeadDim = 32 };
        var kernels = _device.Kernels;
        long before = kernels.Launches;
        Assert.Throws<ArgumentException>(() => kernels.MatMulInt8RopeAndCache(matrix, q.For(32), 1, args, column: 16));
        Assert.Throws<ArgumentException>(() => kernels.MatMulInt8RopeAndCache(matrix, q.For(32), 1, args, column: 96));
        Assert.Throws<ArgumentException>(() => kernels.MatMulInt8RopeAndCache(matrix, q.For(32), 1, args with { HeadDim = 48 }, column: 0));
        Assert.Throws<ArgumentException>(() => kernels.MatMulInt8RopeAndCache(matrix, q.For(32), 1, args with { RowStride = 100 }, column: 0));
        using var x = _device.Allocate<float>(32);
        Assert.Throws<ArgumentException>(() => kernels.MatMulRopeAndCache(matrix, x.View, 1, args, column: 16));
        Assert.Equal(before, kernels.Launches);
    }

    private static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];
}
