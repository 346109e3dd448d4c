using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.Models;

/// <summary>
/// The checks every <see cref="ILanguageModel.Forward"/> makes on one request before touching any state: tokens
/// present, room in the context, embedding rows and mask of the right size, and every id that is not replaced by an
/// embedding row inside the embedding table.
/// </summary>
internal static class ForwardRequestCheck
{
    /// <param name="index">The request's place in the batch (for messages).</param>
    /// <param name="cachedLength">Tokens the sequence already holds.</param>
    public static void Validate(ForwardRequest request, int index, int cachedLength, int maxSequenceLength, int hidden, int embeddingRows)
    {
        int count = request.Tokens.Length;
        if (count == 0)
            throw new ArgumentException($"request {index} (sequence {request.Sequence.Value}) has no tokens", "requests");
        if ((long)cachedLength + count > maxSequenceLength) throw new ContextOverflowException(cachedLength, count, maxSequenceLength);

        ReadOnlySpan<bool> mask = default;
        if (request.Embeddings is { } embeddings)
        {
            if (embeddings.Length != (long)count * hidden)
                throw new ArgumentException($"request {index}: {embeddings.Length} embedding values for {count} tokens × hidden {hidden}", "requests");
            if (request.EmbeddingMask is { } m)
            {
                if (m.Length != count) throw new ArgumentException($"request {index}: embedding mask has {m.Length} entries for {count} tokens", "requests");
                mask = m.Span;
            }
        }
        if (request.Embeddings is not null && request.EmbeddingMask is null) return; // every row supplied: ids unused
        var tokens = request.Tokens.Span;
        for (int t = 0; t < count; t++)
            if ((mask.IsEmpty || !mask[t]) && (uint)tokens[t] >= (uint)embeddingRows)
                throw new TokenOutOfRangeException(tokens[t], t, embeddingRows);
    }
}
