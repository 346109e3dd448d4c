namespace MiniCPM.Engine.Generation;

/// <summary>Draws a token from softmax(scores) (−∞ scores have probability 0), and greedy argmax.</summary>
internal static class TokenSampler
{
    /// <summary>
    /// Inverse-CDF draw: u uniform in [0, 1), probabilities in double, ids visited in ascending order; the first id
    /// whose cumulative probability exceeds u is chosen.
    /// </summary>
    public static int Sample(ReadOnlySpan<float> scores, SeededRandom random)
    {
        var max = float.NegativeInfinity;
        foreach (var s in scores) max = Math.Max(max, s);
        if (float.IsNegativeInfinity(max) || float.IsNaN(max))
            throw new InvalidOperationException("Every token was filtered out; nothing to sample from.");

        var total = 0.0;
        foreach (var s in scores)
            if (!float.IsNegativeInfinity(s)) total += Math.Exp((double)s - max); // after top-k most are −∞

        var target = random.NextDouble() * total;
        var cumulative = 0.0;
        var lastCandidate = -1;
        for (var id = 0; id < scores.Length; id++)
        {
            if (float.IsNegativeInfinity(scores[id])) continue;
            cumulative += Math.Exp((double)scores[id] - max);
            lastCandidate = id;
            if (cumulative > target) return id;
        }
        return lastCandidate; // rounding left target just above the sum
    }

    /// <summary>Index of the highest score; ties go to the lowest id (like torch.argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> scores)
    {
        var best = 0;
        for (var i = 1; i < scores.Length; i++)
            if (scores[i] > scores[best]) best = i;
        if (float.IsNegativeInfinity(scores[best]) || float.IsNaN(scores[best]))
            throw new InvalidOperationException("Every token was filtered out; nothing to choose.");
        return best;
    }
}
