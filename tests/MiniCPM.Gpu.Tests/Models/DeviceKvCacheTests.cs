using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;

namespace MiniCPM.Gpu.Tests.Models;

/// <summary><see cref="DeviceKvCache.Truncate"/> with forks sharing blocks: reference counts, and the copy of a
/// shared block the shortened sequence will write again. Blocks of 4 tokens, 2 floats per token, one layer.</summary>
[Collection(Simulator.Name)]
public sealed class DeviceKvCacheTests(SimulatorDevice simulator)
{
    [Fact]
    public void TruncateReleasesBlocksPastTheLengthAndCopiesASharedBlockItWillWriteAgain()
    {
        using var cache = new DeviceKvCache(simulator.Device, layers: 1, tokenWidth: 2, blockSize: 4, tokens: 32);
        var pool = Enumerable.Range(0, 8 * 4 * 2).Select(i => (float)i).ToArray();
        cache.Keys(0).CopyFromCPU(pool);
        cache.Values(0).CopyFromCPU(pool);
        int a = cache.Create();
        cache.Reserve([(a, 8)]);
        cache.Advance(a, 8); // two full blocks
        int b = cache.Fork(a); // shares both
        Assert.Equal(cache.BlockTable(a), cache.BlockTable(b));
        Assert.Equal(6, cache.FreeBlocks);

        cache.Truncate(b, 6); // ends inside the shared second block, which b writes next: b's own copy
        Assert.Equal(6, cache.Length(b));
        Assert.Equal(cache.BlockTable(a)[0], cache.BlockTable(b)[0]);
        int shared = cache.BlockTable(a)[1], copy = cache.BlockTable(b)[1];
        Assert.NotEqual(shared, copy);
        Assert.Equal(5, cache.FreeBlocks);
        Assert.Equal(Block(cache.Keys(0), shared), Block(cache.Keys(0), copy));
        Assert.Equal(Block(cache.Values(0), shared), Block(cache.Values(0), copy));

        cache.Truncate(b, 4); // the copy goes back; the first block is full, so it stays shared
        Assert.Equal([cache.BlockTable(a)[0]], cache.BlockTable(b));
        Assert.Equal(6, cache.FreeBlocks);
        cache.Truncate(b, 0);
        Assert.Empty(cache.BlockTable(b));
        Assert.Equal(6, cache.FreeBlocks); // a still holds both
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Truncate(a, 9));
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Truncate(a, -1));

        cache.Free(a);
        cache.Free(b);
        Assert.Equal(8, cache.FreeBlocks);
    }

    [Fact]
    public void TruncateThatFindsNoBlockForTheCopyChangesNothing()
    {
        using var cache = new DeviceKvCache(simulator.Device, layers: 1, tokenWidth: 2, blockSize: 4, tokens: 8);
        int a = cache.Create();
        cache.Reserve([(a, 8)]);
        cache.Advance(a, 8);
        int b = cache.Fork(a);
        var table = cache.BlockTable(b).ToArray();
        Assert.Throws<KvCacheExhaustedException>(() => cache.Truncate(b, 6));
        Assert.Equal(8, cache.Length(b));
        Assert.Equal(table, cache.BlockTable(b));
        cache.Truncate(b, 4); // a whole block released, none copied
        Assert.Equal(4, cache.Length(b));
        Assert.Equal(0, cache.FreeBlocks); // a still holds the second block
    }

    private static float[] Block(ArrayView<float> pool, int block)
    {
        var values = new float[8];
        pool.SubView(block * 8L, 8).CopyToCPU(values);
        return values;
    }
}
