using MiniCPM.Engine.Models;
using MiniCPM.Kernels.Gpu;

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

    /// <summary>
    /// The top-k rank whose candidates (<see cref="ILogitCandidateSource"/>) settle these options' choice: top-k when
    /// sampling with it on, 1 for greedy; null when the choice needs the whole row (sampling without top-k).
    /// </summary>
    public int? CandidateRank => _options.Strategy switch
    {
        DecodingStrategy.Greedy => 1,
        DecodingStrategy.Sample when _options.TopK > 0 => _options.TopK,
        _ => null,
    };

    /// <summary>
    /// The id <see cref="Choose"/> would pick from the whole row, picked from the row's candidates (ranked with
    /// <see cref="CandidateRank"/>, the generated ids as the penalized ones), or null — before any random draw — when
    /// they cannot settle it exactly; the caller then takes the whole row.
    /// <para>Why this is the same choice: after top-k every id below the K-th score is −∞, and the pipeline's later
    /// steps (top-p, min-p, the draw) visit the remaining ids in ascending id order, which the candidate lists keep. The
    /// candidates hold every eligible id at or above the K-th logit, the penalized ids are scaled here as
    /// <see cref="RepetitionPenalty"/> scales them, and the temperature is applied to these same floats. An id left out
    /// has a logit at most the float just below <see cref="LogitCandidates.Lowest"/>, so if that bound, scaled by the
    /// temperature, is below the K-th scaled score, top-k removes every one of them on the whole row too.</para>
    /// </summary>
    public int? ChooseFromCandidates(LogitCandidates candidates)
    {
        int n = candidates.Ids.Length + candidates.PenalizedIds.Length;
        if (!candidates.Complete || CandidateRank is not { } k || n == 0) return null;
        var ids = new int[n];
        var scores = new float[n];
        candidates.Ids.CopyTo(ids, 0);
        candidates.Logits.CopyTo(scores, 0);
        float penalty = _options.RepetitionPenalty;
        for (int j = 0; j < candidates.PenalizedIds.Length; j++)
        {
            float s = candidates.PenalizedLogits[j];
            ids[candidates.Ids.Length + j] = candidates.PenalizedIds[j];
            scores[candidates.Ids.Length + j] = penalty == 1f ? s : s < 0 ? s * penalty : s / penalty;
        }
        Array.Sort(ids, scores); // the two lists are disjoint; the pipeline visits ids in ascending order

        bool sample = _options.Strategy == DecodingStrategy.Sample;
        if (sample) TemperatureScaling.Apply(scores, _options.Temperature);
        if (candidates.Lowest is { } lowest)
        {
            // The largest logit an id left out can have, through the same temperature division: it must fall below
            // the K-th score (greedy: the best), or one of those ids could tie with it on the whole row.
            float bound = LogitCandidatesKernel.Value(LogitCandidatesKernel.Key(lowest) - 1);
            if (sample && _options.Temperature != 1f) bound /= _options.Temperature;
            if (n < k || !(bound < TopKFilter.KthLargest(scores, k))) return null;
        }
        if (!sample) return ids[TokenSampler.ArgMax(scores)];
        TopKFilter.Apply(scores, k);
        TopPFilter.Apply(scores, _options.TopP);
        MinPFilter.Apply(scores, _options.MinP);
        return ids[TokenSampler.Sample(scores, _random)];
    }
}
