namespace MiniCPM.Engine.Generation;

/// <summary>
/// Hugging Face's <c>TopPLogitsWarper</c> (nucleus sampling). Scores are sorted ascending, their softmax is summed
/// cumulatively (float32) and every token whose cumulative probability is ≤ 1 − p is removed; the most likely token
/// always stays. The kept set is therefore the smallest head of the distribution whose mass is ≥ p (a token that
/// brings the lower tail exactly to 1 − p is removed). Ties sort by ascending id (a stable sort), so among equal
/// scores the lower ids are removed first. 1 − p is rounded to float32 as torch compares it with a float32 tensor.
/// Tokens already at −∞ have probability 0 and stay removed.
/// </summary>
internal static class TopPFilter
{
    public static void Apply(Span<float> scores, float topP)
    {
        if (topP >= 1f) return;

        // Only finite scores carry probability; after top-k that is usually a handful of the vocabulary.
        var ids = new List<int>();
        for (var i = 0; i < scores.Length; i++)
            if (!float.IsNegativeInfinity(scores[i])) ids.Add(i);
        if (ids.Count <= 1) return;

        var order = ids.ToArray();
        var keys = new float[order.Length];
        for (var j = 0; j < order.Length; j++) keys[j] = scores[order[j]];
        Array.Sort(keys, order);
        StableTieOrder(keys, order);

        var probabilities = Softmax32(keys);
        var removeAtOrBelow = (float)(1.0 - topP);
        var cumulative = 0f;
        for (var j = 0; j < order.Length - 1; j++) // the last (most likely) token is always kept
        {
            cumulative += probabilities[j];
            if (cumulative <= removeAtOrBelow) scores[order[j]] = float.NegativeInfinity;
            else break; // cumulative only grows
        }
    }

    /// <summary>Array.Sort is not stable: within each run of equal keys, put ids back in ascending order.</summary>
    private static void StableTieOrder(float[] keys, int[] order)
    {
        for (var start = 0; start < keys.Length;)
        {
            var end = start + 1;
            while (end < keys.Length && keys[end] == keys[start]) end++;
            if (end - start > 1) Array.Sort(order, start, end - start);
            start = end;
        }
    }

    /// <summary>softmax in float32 like torch: exp(x − max) / Σ.</summary>
    internal static float[] Softmax32(ReadOnlySpan<float> x)
    {
        var max = float.NegativeInfinity;
        foreach (var v in x) max = Math.Max(max, v);
        var p = new float[x.Length];
        var sum = 0f;
        for (var i = 0; i < x.Length; i++) sum += p[i] = MathF.Exp(x[i] - max);
        for (var i = 0; i < p.Length; i++) p[i] /= sum;
        return p;
    }
}
