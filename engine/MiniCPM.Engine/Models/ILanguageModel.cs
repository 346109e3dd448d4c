using MiniCPM.Engine.Configuration;

namespace MiniCPM.Engine.Models;

/// <summary>
/// A causal language model whose sequences live in a paged KV cache. Generation (sampling, beam search, chat
/// sessions) is written against this seam only; the Qwen2 decoder implements it.
/// </summary>
public interface ILanguageModel : IDisposable
{
    LlmConfig Config { get; }

    /// <summary>Width of a logits row (the lm_head's rows; may exceed the tokenizer's vocabulary).</summary>
    int VocabularySize { get; }

    /// <summary>Most tokens one sequence may hold (the model's context, or less if the cache is smaller).</summary>
    int MaxSequenceLength { get; }

    /// <summary>A new empty sequence in the KV cache.</summary>
    SequenceId CreateSequence();

    /// <summary>A new sequence that shares <paramref name="source"/>'s cached prefix (copy-on-write blocks).</summary>
    SequenceId ForkSequence(SequenceId source);

    /// <summary>Returns every KV block of the sequence to the cache; the id becomes invalid.</summary>
    void FreeSequence(SequenceId sequence);

    /// <summary>Tokens cached for the sequence so far.</summary>
    int SequenceLength(SequenceId sequence);

    /// <summary>
    /// Appends each request's inputs to its sequence (one batched pass over several sequences) and writes the
    /// requested logits. On an error (exhausted cache, context overflow, bad token id) no sequence is changed.
    /// </summary>
    void Forward(IReadOnlyList<ForwardRequest> requests);
}

/// <summary>A sequence's handle in a model's KV cache.</summary>
public readonly record struct SequenceId(int Value);

/// <summary>One sequence's share of a batched forward pass.</summary>
public sealed class ForwardRequest
{
    public required SequenceId Sequence { get; init; }

    /// <summary>Token ids to append (one for a decode step, many for prefill).</summary>
    public ReadOnlyMemory<int> Tokens { get; init; }

    /// <summary>
    /// Optional input embeddings (Tokens.Length × hidden, row-major) that replace the token embeddings row by row where
    /// <see cref="EmbeddingMask"/> is true (image/audio rows in a multimodal prompt); null means plain token embeddings.
    /// </summary>
    public ReadOnlyMemory<float>? Embeddings { get; init; }

    /// <summary>Per position: true where <see cref="Embeddings"/> supplies the row. Null with Embeddings set means all rows.</summary>
    public ReadOnlyMemory<bool>? EmbeddingMask { get; init; }

    /// <summary>Logits for every appended position (Tokens.Length rows) instead of only the last one.</summary>
    public bool AllLogits { get; init; }

    /// <summary>
    /// Output: VocabularySize floats (last position) or Tokens.Length × VocabularySize (AllLogits). Allocated by the
    /// model when null or too small.
    /// </summary>
    public float[]? Logits { get; set; }
}
