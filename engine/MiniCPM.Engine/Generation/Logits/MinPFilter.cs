namespace MiniCPM.Engine.Generation;

/// <summary>
/// Hugging Face's <c>MinPLogitsWarper</c>: with probabilities from the softmax of the current scores, every token whose
/// probability is below minP × (the top probability) becomes −∞. The top token always survives (minP ≤ 1).
/// </summary>
internal static class MinPFilter
{
    public static void Apply(Span<float> scores, float minP)
    {
        if (minP <= 0f) return;
        var probabilities = TopPFilter.Softmax32(scores);
        var top = probabilities.Max();
        var threshold = minP * top;
        for (var i = 0; i < scores.Length; i++)
            if (probabilities[i] < threshold) scores[i] = float.NegativeInfinity;
    }
}
