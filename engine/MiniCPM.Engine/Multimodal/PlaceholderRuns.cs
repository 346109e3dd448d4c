namespace MiniCPM.Engine.Multimodal;

/// <summary>
/// Finds where embedding rows go in a tokenized prompt, as MiniCPM's processor computes <c>image_bound</c>: each run
/// starts right after an opening marker (<c>&lt;image&gt;</c>, <c>&lt;slice&gt;</c>, <c>&lt;|audio_start|&gt;</c>)
/// and ends at the matching closing marker. Runs come back in prompt order.
/// </summary>
public static class PlaceholderRuns
{
    /// <summary>[start, end) of every marker pair; an unclosed or nested marker is a <see cref="MediaPromptException"/>.</summary>
    public static IReadOnlyList<(int Start, int End)> Find(IReadOnlyList<int> tokens, IReadOnlyList<(int Open, int Close)> markers)
    {
        var runs = new List<(int, int)>();
        int openAt = -1, expectedClose = -1;
        for (int i = 0; i < tokens.Count; i++)
        {
            int id = tokens[i];
            if (openAt >= 0)
            {
                if (id == expectedClose) { runs.Add((openAt + 1, i)); openAt = -1; }
                else if (markers.Any(m => m.Open == id || m.Close == id))
                    throw new MediaPromptException($"media marker id {id} at token {i} inside the placeholder run opened at token {openAt}");
                continue;
            }
            foreach (var (open, close) in markers)
            {
                if (id == open) { openAt = i; expectedClose = close; break; }
                if (id == close) throw new MediaPromptException($"closing media marker id {id} at token {i} without an opening one");
            }
        }
        if (openAt >= 0) throw new MediaPromptException($"the media marker at token {openAt} is never closed");
        return runs;
    }
}
