using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Multimodal;

/// <summary>
/// A prompt of token ids where some runs of placeholder ids are replaced by embedding rows (images, audio). The ids
/// are still complete — the KV cache, context accounting and stop logic see an ordinary prompt; only the input rows of
/// the runs differ from the token embeddings.
/// </summary>
public sealed class MultimodalPrompt
{
    public MultimodalPrompt(IReadOnlyList<int> tokens, IReadOnlyList<EmbeddingRun> runs, int hidden)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(runs);
        if (hidden < 1) throw new ArgumentOutOfRangeException(nameof(hidden), hidden, "The hidden size must be positive.");
        Tokens = tokens.ToArray();
        Runs = runs.OrderBy(r => r.Start).ToArray();
        Hidden = hidden;
        int previousEnd = 0;
        foreach (var run in Runs)
        {
            if (run.Rows < 1 || run.Start < previousEnd || run.End > Tokens.Count)
                throw new ArgumentException($"Embedding run [{run.Start}, {run.End}) overlaps another or leaves the prompt of {Tokens.Count} tokens.", nameof(runs));
            if (run.Values.Length != (long)run.Rows * hidden)
                throw new ArgumentException($"Embedding run at {run.Start} holds {run.Values.Length} values; {run.Rows} rows × {hidden} expected.", nameof(runs));
            previousEnd = run.End;
        }
    }

    /// <summary>A text-only prompt.</summary>
    public static MultimodalPrompt TextOnly(IReadOnlyList<int> tokens) => new(tokens, [], 1);

    public IReadOnlyList<int> Tokens { get; }
    public IReadOnlyList<EmbeddingRun> Runs { get; }
    public int Hidden { get; }

    /// <summary>
    /// The forward request for tokens [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>):
    /// their ids, and where a run overlaps the range, the embedding rows and a mask saying which rows they replace.
    /// </summary>
    public ForwardRequest Request(SequenceId sequence, int start, int count, bool allLogits = false)
    {
        if (start < 0 || count < 0 || start + count > Tokens.Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"[{start}, {start + count}) is outside the prompt of {Tokens.Count} tokens.");
        int[] ids = new int[count];
        for (int i = 0; i < count; i++) ids[i] = Tokens[start + i];

        var overlapping = Runs.Where(r => r.Start < start + count && r.End > start).ToArray();
        if (overlapping.Length == 0)
            return new ForwardRequest { Sequence = sequence, Tokens = ids, AllLogits = allLogits };

        var embeddings = new float[(long)count * Hidden];
        var mask = new bool[count];
        foreach (var run in overlapping)
        {
            int from = Math.Max(run.Start, start), to = Math.Min(run.End, start + count);
            run.Values.Span.Slice((from - run.Start) * Hidden, (to - from) * Hidden)
                .CopyTo(embeddings.AsSpan((from - start) * Hidden));
            mask.AsSpan(from - start, to - from).Fill(true);
        }
        return new ForwardRequest { Sequence = sequence, Tokens = ids, Embeddings = embeddings, EmbeddingMask = mask, AllLogits = allLogits };
    }
}
