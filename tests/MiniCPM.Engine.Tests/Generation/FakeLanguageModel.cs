using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>The fake cache ran out of blocks (stands in for the real model's typed exception).</summary>
public sealed class FakeCacheExhaustedException(string message) : Exception(message);

/// <summary>
/// A language model whose logits are a deterministic function of a sequence's tokens, with a paged-cache bookkeeping
/// like the real one: blocks of <see cref="BlockSize"/> tokens, forks share blocks (copy-on-write of a shared partly
/// filled last block), a fixed number of blocks, and a Forward that changes nothing when it fails.
/// </summary>
internal sealed class FakeLanguageModel : ILanguageModel
{
    public delegate void LogitsFunction(IReadOnlyList<int> tokens, Span<float> logits);

    private sealed class Block
    {
        public int References = 1;
    }

    private sealed class Sequence
    {
        public List<int> Tokens { get; } = [];
        public List<Block> Blocks { get; } = [];
    }

    private readonly LogitsFunction _logits;
    private readonly Dictionary<int, Sequence> _sequences = [];
    private int _nextId;

    public FakeLanguageModel(int vocabularySize, LogitsFunction logits, int maxSequenceLength = 4096,
        int blockSize = 4, int capacityBlocks = 1 << 20)
    {
        VocabularySize = vocabularySize;
        _logits = logits;
        MaxSequenceLength = maxSequenceLength;
        BlockSize = blockSize;
        CapacityBlocks = capacityBlocks;
    }

    public LlmConfig Config => new()
    {
        HiddenSize = 8, Layers = 1, Heads = 2, KvHeads = 1, IntermediateSize = 16, VocabSize = VocabularySize,
        MaxPositions = MaxSequenceLength,
    };

    public int VocabularySize { get; }
    public int MaxSequenceLength { get; }
    public int BlockSize { get; }
    public int CapacityBlocks { get; set; }

    public int UsedBlocks { get; private set; }
    public int PeakUsedBlocks { get; private set; }
    public int LiveSequences => _sequences.Count;
    public int Forks { get; private set; }

    /// <summary>Token count of every request passed to Forward, in order.</summary>
    public List<int> FedTokenCounts { get; } = [];

    public SequenceId CreateSequence()
    {
        var id = _nextId++;
        _sequences[id] = new Sequence();
        return new SequenceId(id);
    }

    public SequenceId ForkSequence(SequenceId source)
    {
        var parent = Get(source);
        var child = new Sequence();
        child.Tokens.AddRange(parent.Tokens);
        foreach (var b in parent.Blocks)
        {
            b.References++;
            child.Blocks.Add(b);
        }
        var id = _nextId++;
        _sequences[id] = child;
        Forks++;
        return new SequenceId(id);
    }

    public void FreeSequence(SequenceId sequence)
    {
        var s = Get(sequence);
        foreach (var b in s.Blocks)
            if (--b.References == 0) UsedBlocks--;
        _sequences.Remove(sequence.Value);
    }

    public int SequenceLength(SequenceId sequence) => Get(sequence).Tokens.Count;

    /// <summary>The tokens a sequence holds (for assertions).</summary>
    public IReadOnlyList<int> TokensOf(SequenceId sequence) => Get(sequence).Tokens;

    public void Forward(IReadOnlyList<ForwardRequest> requests)
    {
        // Check everything first: a failed call changes nothing.
        var needed = 0;
        foreach (var r in requests)
        {
            var s = Get(r.Sequence);
            foreach (var t in r.Tokens.Span)
                if ((uint)t >= (uint)VocabularySize) throw new ArgumentOutOfRangeException(nameof(requests), t, "bad token id");
            if (s.Tokens.Count + r.Tokens.Length > MaxSequenceLength) throw new InvalidOperationException("context overflow");
            needed += BlocksNeeded(s, r.Tokens.Length);
        }
        if (UsedBlocks + needed > CapacityBlocks)
            throw new FakeCacheExhaustedException($"need {needed} blocks, {CapacityBlocks - UsedBlocks} free");

        foreach (var r in requests)
        {
            var s = Get(r.Sequence);
            FedTokenCounts.Add(r.Tokens.Length);
            Append(s, r.Tokens.Length);
            var rows = r.AllLogits ? r.Tokens.Length : 1;
            if (r.Logits is null || r.Logits.Length < rows * VocabularySize) r.Logits = new float[rows * VocabularySize];
            var first = s.Tokens.Count;
            s.Tokens.AddRange(r.Tokens.ToArray());
            for (var row = 0; row < rows; row++)
            {
                var end = r.AllLogits ? first + row + 1 : s.Tokens.Count;
                _logits(s.Tokens.GetRange(0, end), r.Logits.AsSpan(row * VocabularySize, VocabularySize));
            }
        }
    }

    /// <summary>Keeps the first <paramref name="length"/> tokens of a sequence; the blocks past them go back.</summary>
    public void Truncate(SequenceId sequence, int length)
    {
        var s = Get(sequence);
        s.Tokens.RemoveRange(length, s.Tokens.Count - length);
        while (s.Blocks.Count > Ceil(length))
        {
            if (--s.Blocks[^1].References == 0) UsedBlocks--;
            s.Blocks.RemoveAt(s.Blocks.Count - 1);
        }
    }

    public void Dispose()
    {
    }

    private int BlocksNeeded(Sequence s, int newTokens)
    {
        var length = s.Tokens.Count;
        var copy = length % BlockSize != 0 && s.Blocks[^1].References > 1 ? 1 : 0;
        return copy + Ceil(length + newTokens) - Ceil(length);
    }

    private void Append(Sequence s, int newTokens)
    {
        var length = s.Tokens.Count;
        if (length % BlockSize != 0 && s.Blocks[^1].References > 1)
        {
            s.Blocks[^1].References--; // copy-on-write of the shared, partly filled last block
            s.Blocks[^1] = NewBlock();
        }
        for (var i = Ceil(length); i < Ceil(length + newTokens); i++) s.Blocks.Add(NewBlock());
    }

    private Block NewBlock()
    {
        UsedBlocks++;
        PeakUsedBlocks = Math.Max(PeakUsedBlocks, UsedBlocks);
        return new Block();
    }

    private int Ceil(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    private Sequence Get(SequenceId id) =>
        _sequences.TryGetValue(id.Value, out var s) ? s : throw new ArgumentException($"unknown sequence {id.Value}");
}
