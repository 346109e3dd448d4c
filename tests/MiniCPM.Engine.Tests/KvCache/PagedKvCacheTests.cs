using MiniCPM.Engine.Errors;
using MiniCPM.Engine.KvCache;

namespace MiniCPM.Engine.Tests.KvCache;

/// <summary>
/// The paged cache's bookkeeping: block counts as sequences grow, fork and free; copy-on-write isolation; atomic
/// failure on exhaustion. Values are written through the same Key/Value rows the model uses.
/// </summary>
public class PagedKvCacheTests
{
    private static readonly KvCacheShape Shape = new(Layers: 2, KvHeads: 2, HeadDim: 4, BlockSize: 4);

    /// <summary>Reserves, writes a recognisable value at each new position (all layers, K and V) and commits.</summary>
    private static void Append(PagedKvCache cache, int sequence, int tokens, float tag)
    {
        cache.Reserve([new SequenceAppend(sequence, tokens)]);
        int start = cache.Length(sequence);
        for (int p = start; p < start + tokens; p++)
            for (int layer = 0; layer < Shape.Layers; layer++)
            {
                cache.Key(layer, sequence, p).Fill(Value(tag, layer, p));
                cache.Value(layer, sequence, p).Fill(-Value(tag, layer, p));
            }
        cache.Advance(sequence, tokens);
    }

    private static float Value(float tag, int layer, int position) => tag * 1000 + layer * 100 + position;

    private static void AssertHolds(PagedKvCache cache, int sequence, int from, int to, float tag)
    {
        for (int p = from; p < to; p++)
            for (int layer = 0; layer < Shape.Layers; layer++)
            {
                Assert.All(cache.Key(layer, sequence, p).ToArray(), v => Assert.Equal(Value(tag, layer, p), v));
                Assert.All(cache.Value(layer, sequence, p).ToArray(), v => Assert.Equal(-Value(tag, layer, p), v));
            }
    }

    [Fact]
    public void CapacityIsRoundedToWholeBlocksInTokensOrBytes()
    {
        using var byTokens = PagedKvCache.WithTokenCapacity(Shape, 10);
        Assert.Equal(3, byTokens.TotalBlocks);
        Assert.Equal(12, byTokens.CapacityTokens);
        using var byBytes = PagedKvCache.WithByteCapacity(Shape, Shape.BytesPerBlock * 5 + 7);
        Assert.Equal(5, byBytes.TotalBlocks);
        Assert.Equal(2L * 2 * 4 * 2 * 4 * 4, Shape.BytesPerBlock); // K+V × layers × block × kv width × float
    }

    [Fact]
    public void SequencesGrowBlockByBlockAndFreeingReturnsEveryBlock()
    {
        using var cache = PagedKvCache.WithTokenCapacity(Shape, 64);
        int a = cache.Create(), b = cache.Create();
        Assert.Equal(0, cache.UsedBlocks);

        Append(cache, a, 3, tag: 1);
        Assert.Equal(1, cache.UsedBlocks);
        Append(cache, a, 1, tag: 1); // fills block 0 exactly
        Assert.Equal(1, cache.UsedBlocks);
        Append(cache, a, 1, tag: 1);
        Assert.Equal(2, cache.UsedBlocks);
        Append(cache, b, 9, tag: 2);
        Assert.Equal(5, cache.UsedBlocks);
        Assert.Equal(11, cache.FreeBlocks);
        Assert.Equal(5, cache.Length(a));
        Assert.Equal(9, cache.Length(b));
        AssertHolds(cache, a, 0, 5, tag: 1);
        AssertHolds(cache, b, 0, 9, tag: 2);

        int c = cache.Fork(b);
        Assert.Equal(5, cache.UsedBlocks); // sharing costs nothing
        cache.Free(a);
        cache.Free(b);
        Assert.Equal(3, cache.UsedBlocks); // c still holds b's three blocks
        AssertHolds(cache, c, 0, 9, tag: 2);
        cache.Free(c);
        Assert.Equal(0, cache.UsedBlocks);
        Assert.Equal(16, cache.FreeBlocks);
        Assert.Equal(0, cache.SequenceCount);
        Assert.Throws<UnknownSequenceException>(() => cache.Length(c));
    }

    [Fact]
    public void WritingIntoASharedPartialBlockCopiesItAndLeavesTheParentIntact()
    {
        using var cache = PagedKvCache.WithTokenCapacity(Shape, 64);
        int parent = cache.Create();
        Append(cache, parent, 6, tag: 1); // blocks [full, half]
        int child = cache.Fork(parent);
        var shared = cache.BlockTable(parent).ToArray();
        Assert.Equal(shared, cache.BlockTable(child).ToArray());
        Assert.All(shared, block => Assert.Equal(2, cache.References(block)));

        Append(cache, child, 3, tag: 2); // positions 6..8: writes into the shared half block, then a new one
        var childTable = cache.BlockTable(child).ToArray();
        Assert.Equal(shared[0], childTable[0]);          // the full block stays shared
        Assert.NotEqual(shared[1], childTable[1]);       // the half block was copied
        Assert.Equal(2, cache.References(shared[0]));
        Assert.Equal(1, cache.References(shared[1]));
        Assert.Equal(4, cache.UsedBlocks);

        AssertHolds(cache, child, 0, 6, tag: 1);         // the copy carried the parent's prefix
        AssertHolds(cache, child, 6, 9, tag: 2);
        Append(cache, parent, 2, tag: 3);                // the parent writes its own positions 6..7 in place
        Assert.Equal(shared[1], cache.BlockTable(parent)[1]);
        AssertHolds(cache, parent, 0, 6, tag: 1);
        AssertHolds(cache, parent, 6, 8, tag: 3);
        AssertHolds(cache, child, 6, 9, tag: 2);         // and that did not reach the child

        cache.Free(parent);
        cache.Free(child);
        Assert.Equal(cache.TotalBlocks, cache.FreeBlocks);
    }

    [Fact]
    public void TwoForksWritingTheSameSharedBlockInOneBatchNeedOnlyOneCopy()
    {
        using var cache = PagedKvCache.WithTokenCapacity(Shape, 8); // 2 blocks
        int parent = cache.Create();
        Append(cache, parent, 2, tag: 1);
        int child = cache.Fork(parent);
        SequenceAppend[] batch = [new(parent, 1), new(child, 1)];
        Assert.Equal(1, cache.BlocksNeeded(batch)); // the first writer copies, the second then owns the block alone
        cache.Reserve(batch);
        Assert.Equal(2, cache.UsedBlocks);
        Assert.Equal(1, cache.References(cache.BlockTable(parent)[0]));
        Assert.Equal(1, cache.References(cache.BlockTable(child)[0]));
    }

    [Fact]
    public void ExhaustionChangesNothingAndASmallerRequestStillWorks()
    {
        using var cache = PagedKvCache.WithTokenCapacity(Shape, 16); // 4 blocks
        int a = cache.Create(), b = cache.Create();
        Append(cache, a, 5, tag: 1); // 2 blocks
        Append(cache, b, 2, tag: 2); // 1 block
        int free = cache.FreeBlocks, used = cache.UsedBlocks;
        var tableA = cache.BlockTable(a).ToArray();
        var tableB = cache.BlockTable(b).ToArray();

        // a needs 2 more blocks (positions 5..12), b needs 1 (positions 2..5): 3 > 1 free.
        var e = Assert.Throws<KvCacheExhaustedException>(() => cache.Reserve([new(a, 8), new(b, 4)]));
        Assert.Equal(3, e.BlocksNeeded);
        Assert.Equal(1, e.BlocksFree);
        Assert.Equal(free, cache.FreeBlocks);
        Assert.Equal(used, cache.UsedBlocks);
        Assert.Equal(tableA, cache.BlockTable(a).ToArray());
        Assert.Equal(tableB, cache.BlockTable(b).ToArray());
        Assert.Equal(5, cache.Length(a));
        Assert.Equal(2, cache.Length(b));
        AssertHolds(cache, a, 0, 5, tag: 1);
        AssertHolds(cache, b, 0, 2, tag: 2);

        Append(cache, b, 4, tag: 2); // fits the last free block
        AssertHolds(cache, b, 0, 6, tag: 2);
        Assert.Equal(0, cache.FreeBlocks);
        Assert.Throws<KvCacheExhaustedException>(() => cache.Reserve([new(a, 4)]));
        Append(cache, a, 3, tag: 1); // still fits a's partly filled block
        AssertHolds(cache, a, 0, 8, tag: 1);
    }

    [Fact]
    public void UnreservedPositionsAndUnknownSequencesAreRejected()
    {
        using var cache = PagedKvCache.WithTokenCapacity(Shape, 16);
        int a = cache.Create();
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Key(0, a, 0));
        Assert.Throws<InvalidOperationException>(() => cache.Advance(a, 1));
        Assert.Throws<UnknownSequenceException>(() => cache.Fork(42));
        Assert.Throws<UnknownSequenceException>(() => cache.Reserve([new SequenceAppend(42, 1)]));
        cache.Free(a);
        Assert.Throws<UnknownSequenceException>(() => cache.Free(a));
    }
}
