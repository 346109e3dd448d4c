namespace MiniCPM.Engine.Generation;

/// <summary>
/// Hugging Face's <c>TopKLogitsWarper</c>: the k-th highest score is the threshold and every score strictly below it
/// becomes −∞, so all tokens tied with the k-th survive (more than k may remain).
/// </summary>
internal static class TopKFilter
{
    public static void Apply(Span<float> scores, int k)
    {
        if (k <= 0 || k >= scores.Length) return;
        var threshold = KthLargest(scores, k);
        for (var i = 0; i < scores.Length; i++)
            if (scores[i] < threshold) scores[i] = float.NegativeInfinity;
    }

    /// <summary>The k-th largest value (k ≥ 1), via a min-heap of the k largest seen so far: O(n log k).</summary>
    internal static float KthLargest(ReadOnlySpan<float> scores, int k)
    {
        var heap = new PriorityQueue<float, float>(k);
        foreach (var s in scores)
        {
            if (heap.Count < k) heap.Enqueue(s, s);
            else if (s > heap.Peek()) heap.EnqueueDequeue(s, s);
        }
        return heap.Peek();
    }
}
