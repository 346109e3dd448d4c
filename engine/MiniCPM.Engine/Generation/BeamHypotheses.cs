namespace MiniCPM.Engine.Generation;

/// <summary>
/// The n best finished hypotheses of a beam search, as Hugging Face's <c>BeamHypotheses</c> keeps them (transformers
/// 4.40-era semantics, generated length only since MiniCPM generates from embeddings): a hypothesis scores
/// sum(log p) / length^lengthPenalty, the length counting its generated tokens (the stop token included).
/// </summary>
internal sealed class BeamHypotheses
{
    private readonly int _numBeams;
    private readonly double _lengthPenalty;
    private readonly BeamEarlyStopping _earlyStopping;
    private readonly int _maxLength;
    private readonly List<Hypothesis> _beams = [];
    private double _worstScore = 1e9;

    public BeamHypotheses(int numBeams, double lengthPenalty, BeamEarlyStopping earlyStopping, int maxLength)
    {
        _numBeams = numBeams;
        _lengthPenalty = lengthPenalty;
        _earlyStopping = earlyStopping;
        _maxLength = maxLength;
    }

    public sealed record Hypothesis(double Score, int[] Tokens, bool EndsWithStopToken);

    public int Count => _beams.Count;

    public void Add(int[] tokens, double sumLogProbs, int length, bool endsWithStopToken)
    {
        var score = sumLogProbs / Math.Pow(length, _lengthPenalty);
        if (_beams.Count >= _numBeams && score <= _worstScore) return;

        _beams.Add(new Hypothesis(score, tokens, endsWithStopToken));
        if (_beams.Count > _numBeams)
        {
            // Drop the worst (the earliest added among equals, as Python's sort of (score, index) pairs does).
            var byScore = Enumerable.Range(0, _beams.Count).OrderBy(i => _beams[i].Score).ThenBy(i => i).ToList();
            _worstScore = _beams[byScore[1]].Score;
            _beams.RemoveAt(byScore[0]);
        }
        else
        {
            _worstScore = Math.Min(score, _worstScore);
        }
    }

    /// <summary>Whether no live beam can still beat the finished ones. <paramref name="bestSumLogProbs"/> is the best
    /// candidate score of this step, <paramref name="length"/> the generated length including that step's token.</summary>
    public bool IsDone(double bestSumLogProbs, int length)
    {
        if (_beams.Count < _numBeams) return false;
        var highestAttainable = _earlyStopping switch
        {
            BeamEarlyStopping.Immediate => double.PositiveInfinity, // never compared: done
            BeamEarlyStopping.Never when _lengthPenalty > 0 => bestSumLogProbs / Math.Pow(_maxLength, _lengthPenalty),
            _ => bestSumLogProbs / Math.Pow(length, _lengthPenalty),
        };
        return _earlyStopping == BeamEarlyStopping.Immediate || _worstScore >= highestAttainable;
    }

    /// <summary>The highest-scoring hypothesis; among equals the one added last (HF sorts stably and pops the end).</summary>
    public Hypothesis Best()
    {
        if (_beams.Count == 0) throw new InvalidOperationException("No hypotheses.");
        var best = _beams[0];
        foreach (var h in _beams.Skip(1))
            if (h.Score >= best.Score) best = h;
        return best;
    }
}
