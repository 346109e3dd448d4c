using System.Runtime.InteropServices;
using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.KvCache;

/// <summary>
/// Keys and values of many sequences in fixed-size blocks (vLLM-style paging). Each layer owns one key and one value
/// arena of <see cref="TotalBlocks"/> × <see cref="BlockSize"/> token rows; a sequence's block table lists which block
/// holds its positions [i·BlockSize, (i+1)·BlockSize), the same block id in every layer.
/// <para>
/// Sequences grow block by block. <see cref="Fork"/> shares the parent's blocks (reference counted); a shared block
/// is copied the first time either owner writes into it (copy-on-write), which only ever happens to a partially filled
/// last block because cached positions are never rewritten.
/// </para>
/// <para>
/// Growing is two-phase so a batch fails atomically: <see cref="Reserve"/> checks the whole batch against the free
/// list before touching anything (then makes the positions writable), <see cref="Advance"/> commits the new length once
/// the keys and values are written.
/// </para>
/// </summary>
public sealed unsafe class PagedKvCache : IDisposable
{
    private readonly BlockAllocator _allocator;
    private readonly float*[] _keys;
    private readonly float*[] _values;
    private readonly long _layerFloats;
    private readonly Dictionary<int, SequenceBlocks> _sequences = [];
    private readonly Dictionary<int, int> _plannedCopies = []; // scratch of Reserve: shared blocks already counted
    private int _nextSequence;
    private bool _disposed;

    private PagedKvCache(KvCacheShape shape, int totalBlocks)
    {
        shape.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalBlocks);
        Shape = shape;
        _allocator = new BlockAllocator(totalBlocks);
        _layerFloats = (long)totalBlocks * shape.BlockSize * shape.TokenWidth;
        _keys = new float*[shape.Layers];
        _values = new float*[shape.Layers];
        // Zeroed pages from the OS: memory is committed only as blocks are first written.
        for (int layer = 0; layer < shape.Layers; layer++)
        {
            _keys[layer] = (float*)NativeMemory.AllocZeroed((nuint)_layerFloats, sizeof(float));
            _values[layer] = (float*)NativeMemory.AllocZeroed((nuint)_layerFloats, sizeof(float));
        }
    }

    /// <summary>A cache for at least <paramref name="tokens"/> tokens (rounded up to whole blocks).</summary>
    public static PagedKvCache WithTokenCapacity(KvCacheShape shape, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        return new PagedKvCache(shape, (tokens + shape.BlockSize - 1) / shape.BlockSize);
    }

    /// <summary>A cache of as many whole blocks as fit in <paramref name="bytes"/>.</summary>
    public static PagedKvCache WithByteCapacity(KvCacheShape shape, long bytes)
    {
        long blocks = bytes / shape.BytesPerBlock;
        if (blocks < 1) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"less than one block ({shape.BytesPerBlock} bytes)");
        return new PagedKvCache(shape, (int)Math.Min(blocks, int.MaxValue / shape.BlockSize));
    }

    public KvCacheShape Shape { get; }
    public int BlockSize => Shape.BlockSize;
    public int TotalBlocks => _allocator.TotalBlocks;
    public int FreeBlocks => _allocator.FreeBlocks;
    public int UsedBlocks => _allocator.UsedBlocks;
    public int CapacityTokens => TotalBlocks * BlockSize;
    public int SequenceCount => _sequences.Count;

    /// <summary>A new empty sequence (no blocks yet).</summary>
    public int Create()
    {
        ThrowIfDisposed();
        int id = _nextSequence++;
        _sequences.Add(id, new SequenceBlocks());
        return id;
    }

    /// <summary>A new sequence with the same cached tokens as <paramref name="source"/>, sharing its blocks.</summary>
    public int Fork(int source)
    {
        var parent = Get(source);
        var child = new SequenceBlocks { Length = parent.Length };
        foreach (int block in parent.Table)
        {
            _allocator.AddReference(block);
            child.Table.Add(block);
        }
        int id = _nextSequence++;
        _sequences.Add(id, child);
        return id;
    }

    /// <summary>Drops the sequence; blocks no other sequence references go back to the free list.</summary>
    public void Free(int sequence)
    {
        var blocks = Get(sequence);
        foreach (int block in blocks.Table) _allocator.Release(block);
        _sequences.Remove(sequence);
    }

    public bool Contains(int sequence) => _sequences.ContainsKey(sequence);

    /// <summary>Committed (cached) tokens of the sequence.</summary>
    public int Length(int sequence) => Get(sequence).Length;

    /// <summary>The sequence's block ids in position order (may hold reserved blocks past its length).</summary>
    public ReadOnlySpan<int> BlockTable(int sequence) => CollectionsMarshal.AsSpan(Get(sequence).Table);

    /// <summary>Sequences referencing <paramref name="block"/> (0 for a free block).</summary>
    public int References(int block) => _allocator.References(block);

    /// <summary>
    /// Makes positions [length, length + tokens) of every listed sequence writable: copies shared blocks that would be
    /// written, appends new blocks. Throws <see cref="KvCacheExhaustedException"/> — with nothing changed — when the
    /// whole batch does not fit the free list.
    /// </summary>
    public void Reserve(ReadOnlySpan<SequenceAppend> appends)
    {
        ThrowIfDisposed();
        int needed = BlocksNeeded(appends);
        if (needed > FreeBlocks) throw new KvCacheExhaustedException(needed, FreeBlocks, TotalBlocks, BlockSize);
        foreach (var append in appends)
        {
            if (append.Tokens == 0) continue;
            var blocks = Get(append.Sequence);
            int first = blocks.Length / BlockSize, last = (blocks.Length + append.Tokens - 1) / BlockSize;
            for (int index = first; index <= last && index < blocks.Table.Count; index++)
                if (_allocator.References(blocks.Table[index]) > 1)
                    blocks.Table[index] = CopyBlock(blocks.Table[index]);
            while (blocks.Table.Count <= last) blocks.Table.Add(_allocator.Allocate());
        }
    }

    /// <summary>
    /// Blocks <see cref="Reserve"/> would take from the free list for this batch: new blocks plus copies of shared
    /// blocks about to be written (a block shared by two sequences of the batch is copied once: the second writer then
    /// owns it alone).
    /// </summary>
    public int BlocksNeeded(ReadOnlySpan<SequenceAppend> appends)
    {
        _plannedCopies.Clear();
        int needed = 0;
        foreach (var append in appends)
        {
            var blocks = Get(append.Sequence);
            ArgumentOutOfRangeException.ThrowIfNegative(append.Tokens);
            if (append.Tokens == 0) continue;
            int first = blocks.Length / BlockSize, last = (blocks.Length + append.Tokens - 1) / BlockSize;
            for (int index = first; index <= last && index < blocks.Table.Count; index++)
            {
                int block = blocks.Table[index];
                int planned = _plannedCopies.GetValueOrDefault(block);
                if (_allocator.References(block) - planned > 1)
                {
                    needed++;
                    _plannedCopies[block] = planned + 1;
                }
            }
            needed += Math.Max(0, last + 1 - blocks.Table.Count);
        }
        return needed;
    }

    /// <summary>Commits <paramref name="tokens"/> written positions (they must have been reserved).</summary>
    public void Advance(int sequence, int tokens)
    {
        var blocks = Get(sequence);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if ((long)blocks.Length + tokens > (long)blocks.Table.Count * BlockSize)
            throw new InvalidOperationException($"sequence {sequence}: {tokens} token(s) past its length {blocks.Length} were not reserved");
        blocks.Length += tokens;
    }

    /// <summary>Key row of one position in one layer (the position must be reserved).</summary>
    public Span<float> Key(int layer, int sequence, int position) => new(_keys[layer] + RowOffset(sequence, position), Shape.TokenWidth);

    /// <summary>Value row of one position in one layer (the position must be reserved).</summary>
    public Span<float> Value(int layer, int sequence, int position) => new(_values[layer] + RowOffset(sequence, position), Shape.TokenWidth);

    /// <summary>Start of a layer's key arena: row r of block b is at (b·BlockSize + r)·TokenWidth.</summary>
    internal float* KeyArena(int layer) => _keys[layer];

    internal float* ValueArena(int layer) => _values[layer];

    private long RowOffset(int sequence, int position)
    {
        var blocks = Get(sequence);
        if ((uint)position >= (uint)(blocks.Table.Count * BlockSize))
            throw new ArgumentOutOfRangeException(nameof(position), position, $"sequence {sequence} has {blocks.Table.Count * BlockSize} reserved positions");
        long row = (long)blocks.Table[position / BlockSize] * BlockSize + position % BlockSize;
        return row * Shape.TokenWidth;
    }

    /// <summary>Copy-on-write: a private copy of a shared block (all layers, keys and values).</summary>
    private int CopyBlock(int shared)
    {
        int copy = _allocator.Allocate();
        long blockFloats = (long)BlockSize * Shape.TokenWidth;
        nuint bytes = (nuint)(blockFloats * sizeof(float));
        for (int layer = 0; layer < Shape.Layers; layer++)
        {
            NativeMemory.Copy(_keys[layer] + shared * blockFloats, _keys[layer] + copy * blockFloats, bytes);
            NativeMemory.Copy(_values[layer] + shared * blockFloats, _values[layer] + copy * blockFloats, bytes);
        }
        _allocator.Release(shared);
        return copy;
    }

    private SequenceBlocks Get(int sequence)
    {
        ThrowIfDisposed();
        return _sequences.TryGetValue(sequence, out var blocks) ? blocks : throw new UnknownSequenceException(sequence);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        FreeArenas();
        _sequences.Clear();
        GC.SuppressFinalize(this);
    }

    /// <summary>The arenas are native memory: a cache that was never disposed still returns it.</summary>
    ~PagedKvCache() => FreeArenas();

    private void FreeArenas()
    {
        if (_disposed) return;
        _disposed = true;
        // A constructor that threw may leave the arrays null or partly filled; Free(null) is a no-op.
        for (int layer = 0; layer < (_keys?.Length ?? 0); layer++)
        {
            NativeMemory.Free(_keys![layer]);
            NativeMemory.Free(_values[layer]);
        }
    }

    private sealed class SequenceBlocks
    {
        public List<int> Table { get; } = [];
        public int Length { get; set; }
    }
}
