using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Generation;

/// <summary>
/// Beam search with Hugging Face's semantics (<c>_beam_search</c> + <c>BeamSearchScorer</c>):
/// each live beam's next-token scores are log_softmax(logits), then the repetition penalty (on log-probabilities, over
/// that beam's generated tokens), plus the beam's running sum. The best max(2, 1 + #stop tokens) × NumBeams
/// candidates over all beams are visited in order: a stop token among the first NumBeams finishes a hypothesis
/// (<see cref="BeamHypotheses"/>), other tokens fill the next NumBeams beams. The search ends when the hypotheses are
/// done, at MaxNewTokens or at the context end; then (unless done) the live beams join the hypotheses and the best wins.
/// Every beam is a sequence forked from the prompt's (copy-on-write KV blocks); all are freed on return.
/// Differences from HF, by design: the search starts from one beam (HF starts NumBeams copies scored −1e9, the same
/// when the vocabulary has at least 3·NumBeams tokens); sums are in double; ties between candidates go to the lower
/// beam, then the lower token id; ids the tokenizer cannot decode are masked after the log-softmax.
/// </summary>
internal static class BeamSearch
{
    private sealed record Beam(SequenceId Sequence, int[] Tokens, double Score, float[] Logits);

    private readonly record struct Candidate(int Beam, int Token, double Score);

    public static (int[] Tokens, FinishReason Finish) Run(ILanguageModel model, SequenceId prompt, float[] promptLogits,
        DecodingContext context, StepLogitsObserver? observer, CancellationToken cancellation)
    {
        var options = context.Options;
        var numBeams = options.NumBeams;
        var hypotheses = new BeamHypotheses(numBeams, options.LengthPenalty, options.EarlyStopping, options.MaxNewTokens);
        var candidatesPerStep = Math.Max(2, 1 + context.StopTokens.Count) * numBeams;

        var beams = new List<Beam> { new(model.ForkSequence(prompt), [], 0.0, promptLogits) };
        try
        {
            for (var length = 1; ; length++) // length: generated tokens per beam after this step
            {
                cancellation.ThrowIfCancellationRequested();
                if (length == 1) observer?.Invoke(0, promptLogits);
                var candidates = TopCandidates(beams, context, candidatesPerStep);

                var next = new List<Candidate>(numBeams);
                for (var rank = 0; rank < candidates.Count && next.Count < numBeams; rank++)
                {
                    var c = candidates[rank];
                    if (!context.StopTokens.Contains(c.Token)) next.Add(c);
                    else if (rank < numBeams) // HF: a stop token outside the top NumBeams is ignored
                        hypotheses.Add([.. beams[c.Beam].Tokens, c.Token], c.Score, length, endsWithStopToken: true);
                }

                if ((candidates.Count > 0 && hypotheses.IsDone(candidates[0].Score, length)) || next.Count == 0)
                    return Result(hypotheses.Best(), FinishReason.MaxNewTokens);

                var promptAndBeam = model.SequenceLength(beams[0].Sequence) + 1; // after appending this step's token
                FinishReason? limit = length >= options.MaxNewTokens ? FinishReason.MaxNewTokens
                    : promptAndBeam + 1 > model.MaxSequenceLength ? FinishReason.ContextFull
                    : null;
                if (limit is { } reason)
                {
                    foreach (var c in next)
                        hypotheses.Add([.. beams[c.Beam].Tokens, c.Token], c.Score, length, endsWithStopToken: false);
                    return Result(hypotheses.Best(), reason);
                }

                beams = Advance(model, beams, next);
            }
        }
        finally
        {
            foreach (var beam in beams) model.FreeSequence(beam.Sequence);
        }
    }

    private static (int[], FinishReason) Result(BeamHypotheses.Hypothesis best, FinishReason otherwise) =>
        (best.Tokens, best.EndsWithStopToken ? FinishReason.StopToken : otherwise);

    /// <summary>
    /// The next beams' sequences: a parent's first child takes over the parent's sequence, further children fork it
    /// (before anything is appended), parents without children are freed; then one batched forward appends every
    /// child's token. On failure every sequence is still owned by exactly one beam of the returned or old list.
    /// </summary>
    private static List<Beam> Advance(ILanguageModel model, List<Beam> parents, List<Candidate> chosen)
    {
        var sequences = new SequenceId[chosen.Count];
        var taken = new bool[parents.Count];
        var forks = new List<SequenceId>();
        try
        {
            for (var i = 0; i < chosen.Count; i++)
            {
                var parent = chosen[i].Beam;
                if (!taken[parent])
                {
                    taken[parent] = true;
                    sequences[i] = parents[parent].Sequence;
                }
                else
                {
                    sequences[i] = model.ForkSequence(parents[parent].Sequence);
                    forks.Add(sequences[i]);
                }
            }

            var requests = chosen.Select((c, i) => new ForwardRequest { Sequence = sequences[i], Tokens = new[] { c.Token } })
                .ToList();
            model.Forward(requests);

            for (var p = 0; p < parents.Count; p++)
                if (!taken[p]) model.FreeSequence(parents[p].Sequence);
            return chosen.Select((c, i) => new Beam(sequences[i], [.. parents[c.Beam].Tokens, c.Token], c.Score,
                requests[i].Logits ?? throw new InvalidOperationException("The model returned no logits."))).ToList();
        }
        catch
        {
            // The old beams still own their sequences (Forward changes nothing on failure); drop the forks.
            foreach (var f in forks) model.FreeSequence(f);
            throw;
        }
    }

    /// <summary>The best <paramref name="count"/> (beam, token) continuations, best first.</summary>
    private static List<Candidate> TopCandidates(List<Beam> beams, DecodingContext context, int count)
    {
        var all = new List<Candidate>(count * beams.Count);
        var comparer = Comparer<Candidate>.Create(Better);
        for (var b = 0; b < beams.Count; b++)
        {
            var scores = TokenScores(beams[b], context);
            // Min-heap of this beam's best `count` (the worst on top).
            var heap = new PriorityQueue<Candidate, Candidate>(count, Comparer<Candidate>.Create((x, y) => Better(y, x)));
            for (var token = 0; token < scores.Length; token++)
            {
                if (double.IsNegativeInfinity(scores[token])) continue;
                var candidate = new Candidate(b, token, beams[b].Score + scores[token]);
                if (heap.Count < count) heap.Enqueue(candidate, candidate);
                else if (Better(candidate, heap.Peek()) < 0) heap.EnqueueDequeue(candidate, candidate);
            }
            while (heap.Count > 0) all.Add(heap.Dequeue());
        }
        all.Sort(comparer);
        return all.Count > count ? all.GetRange(0, count) : all;
    }

    /// <summary>Negative when <paramref name="x"/> ranks before <paramref name="y"/>: higher score, then lower beam,
    /// then lower token.</summary>
    private static int Better(Candidate x, Candidate y)
    {
        var byScore = y.Score.CompareTo(x.Score);
        if (byScore != 0) return byScore;
        return x.Beam != y.Beam ? x.Beam.CompareTo(y.Beam) : x.Token.CompareTo(y.Token);
    }

    /// <summary>log_softmax of the beam's logits, repetition-penalized over its tokens, undecodable ids at −∞.</summary>
    private static double[] TokenScores(Beam beam, DecodingContext context)
    {
        var logits = beam.Logits;
        var max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v);
        var sum = 0.0;
        foreach (var v in logits) sum += Math.Exp(v - max);
        var logNormalizer = max + Math.Log(sum);

        var scores = new double[logits.Length];
        for (var i = 0; i < scores.Length; i++) scores[i] = logits[i] - logNormalizer;

        var penalty = context.Options.RepetitionPenalty;
        if (penalty != 1f)
            foreach (var id in beam.Tokens.Distinct())
                if ((uint)id < (uint)scores.Length)
                    scores[id] = scores[id] < 0 ? scores[id] * penalty : scores[id] / penalty;

        if (context.Decodable is { } decodable)
            for (var i = 0; i < scores.Length; i++)
                if (i >= decodable.Length || !decodable[i]) scores[i] = double.NegativeInfinity;
        return scores;
    }
}
