namespace MiniCPM.Engine.KvCache;

/// <summary>
/// Hands out block ids from a free list and counts references, so a block shared by forked sequences returns to the
/// free list only when the last of them lets go.
/// </summary>
internal sealed class BlockAllocator
{
    private readonly Stack<int> _free;
    private readonly int[] _references;

    public BlockAllocator(int totalBlocks)
    {
        TotalBlocks = totalBlocks;
        _references = new int[totalBlocks];
        _free = new Stack<int>(totalBlocks);
        for (int block = totalBlocks - 1; block >= 0; block--) _free.Push(block); // block 0 comes out first
    }

    public int TotalBlocks { get; }
    public int FreeBlocks => _free.Count;
    public int UsedBlocks => TotalBlocks - _free.Count;

    public int References(int block) => _references[block];

    /// <summary>A free block with one reference. Callers check <see cref="FreeBlocks"/> first.</summary>
    public int Allocate()
    {
        if (!_free.TryPop(out int block)) throw new InvalidOperationException("no free KV block (the caller should have reserved capacity first)");
        _references[block] = 1;
        return block;
    }

    public void AddReference(int block) => _references[block]++;

    public void Release(int block)
    {
        if (_references[block] <= 0) throw new InvalidOperationException($"KV block {block} released more often than referenced");
        if (--_references[block] == 0) _free.Push(block);
    }
}
