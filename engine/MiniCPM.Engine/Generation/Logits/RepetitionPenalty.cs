namespace MiniCPM.Engine.Generation;

/// <summary>
/// Hugging Face's <c>RepetitionPenaltyLogitsProcessor</c> (Keskar et al. 2019): every distinct token already generated
/// has its score divided by the penalty when positive and multiplied by it when negative (zero stays zero), so a
/// penalty above 1 always makes the token less likely. A token generated several times is penalized once.
/// </summary>
internal static class RepetitionPenalty
{
    public static void Apply(Span<float> scores, ReadOnlySpan<int> generated, float penalty)
    {
        if (penalty == 1f || generated.IsEmpty) return;
        // HF gathers all scores first, then scatters the penalized values, so duplicates see the original score.
        var seen = new HashSet<int>();
        foreach (var id in generated)
        {
            if ((uint)id >= (uint)scores.Length || !seen.Add(id)) continue;
            var s = scores[id];
            scores[id] = s < 0 ? s * penalty : s / penalty;
        }
    }
}
