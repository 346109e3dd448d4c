namespace MiniCPM.Engine.Generation;

/// <summary>
/// Chooses the next token for greedy and sampled decoding, applying the processors in Hugging Face's order:
/// repetition penalty (a logits processor), then — when sampling — the warpers temperature, top-k, top-p, min-p, and
/// finally argmax or a draw from the softmax. Ids the tokenizer cannot decode are masked before anything else.
/// </summary>
internal sealed class LogitsPipeline
{
    private readonly GenerationOptions _options;
    private readonly bool[]? _decodable;
    private readonly SeededRandom _random;

    public LogitsPipeline(GenerationOptions options, bool[]? decodable)
    {
        _options = options;
        _decodable = decodable;
        _random = new SeededRandom(options.Seed ?? (ulong)Random.Shared.NextInt64());
    }

    /// <summary>Processes <paramref name="scores"/> in place and returns the chosen id.</summary>
    /// <param name="generated">The ids this reply generated so far (the only ones the penalty sees).</param>
    public int Choose(Span<float> scores, ReadOnlySpan<int> generated)
    {
        DecodableIds.Mask(scores, _decodable);
        RepetitionPenalty.Apply(scores, generated, _options.RepetitionPenalty);
        if (_options.Strategy != DecodingStrategy.Sample) return TokenSampler.ArgMax(scores);

        TemperatureScaling.Apply(scores, _options.Temperature);
        TopKFilter.Apply(scores, _options.TopK);
        TopPFilter.Apply(scores, _options.TopP);
        MinPFilter.Apply(scores, _options.MinP);
        return TokenSampler.Sample(scores, _random);
    }
}
