using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Engine.Errors;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// The paged KV cache of the GPU decoder: per layer a key and a value pool of [blocks × blockSize, kvHeads·d] floats
/// in device memory, and the block tables kept on the host (the kernels get them uploaded per pass). A fork shares the
/// source's full blocks (they are never written again) and copies its partly filled last block.
/// </summary>
internal sealed class DeviceKvCache : IDisposable
{
    private readonly GpuDevice _device;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _keys, _values;
    private readonly int[] _references;
    private readonly Stack<int> _free = new();
    private readonly Dictionary<int, Sequence> _sequences = [];
    private int _nextSequence;

    private sealed class Sequence
    {
        public List<int> Blocks { get; } = [];
        public int Length { get; set; }
    }

    public DeviceKvCache(GpuDevice device, int layers, int tokenWidth, int blockSize, int tokens)
    {
        _device = device;
        BlockSize = blockSize;
        TokenWidth = tokenWidth;
        long blocks = Blocks(tokens, blockSize);
        if (blocks * blockSize > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"a KV cache holds at most {int.MaxValue / blockSize * blockSize} tokens");
        TotalBlocks = (int)blocks;
        long floats = (long)TotalBlocks * blockSize * tokenWidth;
        _keys = new MemoryBuffer1D<float, Stride1D.Dense>[layers];
        _values = new MemoryBuffer1D<float, Stride1D.Dense>[layers];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = device.Allocate<float>(floats);
            _values[l] = device.Allocate<float>(floats);
        }
        _references = new int[TotalBlocks];
        for (int b = TotalBlocks - 1; b >= 0; b--) _free.Push(b);
    }

    /// <summary>Blocks of <paramref name="blockSize"/> tokens that hold <paramref name="tokens"/> (at least one).</summary>
    public static long Blocks(int tokens, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        return ((long)tokens + blockSize - 1) / blockSize;
    }

    public int BlockSize { get; }
    public int TokenWidth { get; }
    public int TotalBlocks { get; }
    public int CapacityTokens => TotalBlocks * BlockSize;

    public ArrayView<float> Keys(int layer) => _keys[layer].View;
    public ArrayView<float> Values(int layer) => _values[layer].View;

    public int Create()
    {
        int id = _nextSequence++;
        _sequences[id] = new Sequence();
        return id;
    }

    public int Length(int sequence) => Get(sequence).Length;

    public IReadOnlyList<int> BlockTable(int sequence) => Get(sequence).Blocks;

    public int Fork(int source)
    {
        var from = Get(source);
        int full = from.Length / BlockSize;
        bool partial = from.Length % BlockSize != 0;
        if (partial && _free.Count == 0) throw new KvCacheExhaustedException(1, 0, TotalBlocks, BlockSize);
        var copy = new Sequence { Length = from.Length };
        for (int i = 0; i < full; i++)
        {
            copy.Blocks.Add(from.Blocks[i]);
            _references[from.Blocks[i]]++;
        }
        if (partial)
        {
            int block = Take();
            CopyBlock(from.Blocks[full], block);
            copy.Blocks.Add(block);
        }
        int id = _nextSequence++;
        _sequences[id] = copy;
        return id;
    }

    public void Free(int sequence)
    {
        var s = Get(sequence);
        foreach (int block in s.Blocks)
            if (--_references[block] == 0) _free.Push(block);
        _sequences.Remove(sequence);
    }

    /// <summary>Blocks the appends need beyond what their sequences hold.</summary>
    public int BlocksNeeded(IEnumerable<(int Sequence, int Tokens)> appends)
    {
        int needed = 0;
        foreach (var (sequence, tokens) in appends)
        {
            var s = Get(sequence);
            int blocks = (s.Length + tokens + BlockSize - 1) / BlockSize;
            needed += Math.Max(0, blocks - s.Blocks.Count);
        }
        return needed;
    }

    /// <summary>Throws <see cref="KvCacheExhaustedException"/> when the appends need more blocks than are free; changes nothing.</summary>
    public void RequireRoom(IReadOnlyList<(int Sequence, int Tokens)> appends)
    {
        int needed = BlocksNeeded(appends);
        if (needed > _free.Count) throw new KvCacheExhaustedException(needed, _free.Count, TotalBlocks, BlockSize);
    }

    /// <summary>Block-table entries the sequences of <paramref name="appends"/> have once they are reserved.</summary>
    public int TableEntriesAfter(IReadOnlyList<(int Sequence, int Tokens)> appends) =>
        appends.Sum(a => Get(a.Sequence).Blocks.Count) + BlocksNeeded(appends);

    /// <summary>Adds the blocks every append needs; throws before changing anything when the cache is full.</summary>
    public void Reserve(IReadOnlyList<(int Sequence, int Tokens)> appends)
    {
        RequireRoom(appends);
        foreach (var (sequence, tokens) in appends)
        {
            var s = Get(sequence);
            int blocks = (s.Length + tokens + BlockSize - 1) / BlockSize;
            while (s.Blocks.Count < blocks) s.Blocks.Add(Take());
        }
    }

    public void Advance(int sequence, int tokens) => Get(sequence).Length += tokens;

    /// <summary>
    /// Shortens a sequence to its first <paramref name="length"/> tokens: the blocks past them go back (to the free list
    /// once no fork holds them), and a kept last block that is shared and now partly filled becomes the sequence's own
    /// copy, since its next tokens are written there. Throws before changing anything when that copy finds no block.
    /// </summary>
    public void Truncate(int sequence, int length)
    {
        var s = Get(sequence);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, s.Length);
        int keep = (length + BlockSize - 1) / BlockSize;
        bool copyLast = length % BlockSize != 0 && _references[s.Blocks[keep - 1]] > 1;
        int released = s.Blocks.Skip(keep).Count(b => _references[b] == 1);
        if (copyLast && _free.Count + released == 0) throw new KvCacheExhaustedException(1, 0, TotalBlocks, BlockSize);

        for (int i = s.Blocks.Count - 1; i >= keep; i--)
        {
            if (--_references[s.Blocks[i]] == 0) _free.Push(s.Blocks[i]);
            s.Blocks.RemoveAt(i);
        }
        s.Length = length;
        if (copyLast)
        {
            int shared = s.Blocks[keep - 1], own = Take();
            CopyBlock(shared, own);
            _references[shared]--;
            s.Blocks[keep - 1] = own;
        }
    }

    /// <summary>Blocks no sequence holds.</summary>
    public int FreeBlocks => _free.Count;

    private int Take()
    {
        int block = _free.Pop();
        _references[block] = 1;
        return block;
    }

    private void CopyBlock(int from, int to)
    {
        long floats = (long)BlockSize * TokenWidth;
        for (int l = 0; l < _keys.Length; l++)
        {
            _keys[l].View.SubView(from * floats, floats).CopyTo(_keys[l].View.SubView(to * floats, floats));
            _values[l].View.SubView(from * floats, floats).CopyTo(_values[l].View.SubView(to * floats, floats));
        }
    }

    private Sequence Get(int sequence) =>
        _sequences.TryGetValue(sequence, out var s) ? s : throw new UnknownSequenceException(sequence);

    public void Dispose()
    {
        foreach (var buffer in _keys) buffer.Dispose();
        foreach (var buffer in _values) buffer.Dispose();
    }
}
