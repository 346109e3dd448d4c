namespace MiniCPM.Engine.Tokenization;

/// <summary>
/// Cuts text into added tokens and the plain text between them. At each position the longest added token that starts
/// there wins, and the leftmost position wins overall (Hugging Face's leftmost-longest matching).
/// </summary>
internal sealed class AddedTokenMatcher
{
    /// <summary>One piece of the input: either an added token or a stretch of plain text [Start, Start+Length).</summary>
    public readonly record struct Segment(int Start, int Length, AddedToken? Token);

    private readonly Dictionary<char, AddedToken[]> _byFirstChar;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    public List<Segment> Split(string text, bool includeSpecial)
    {
        var segments = new List<Segment>();
        var plainStart = 0;
        for (var pos = 0; pos < text.Length; pos++)
        {
            var token = LongestAt(text, pos, includeSpecial);
            if (token is null) continue;

            var start = pos;
            var end = pos + token.Content.Length;
            if (token.LeftStrip) while (start > plainStart && char.IsWhiteSpace(text[start - 1])) start--;
            if (token.RightStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;

            if (start > plainStart) segments.Add(new Segment(plainStart, start - plainStart, null));
            segments.Add(new Segment(start, end - start, token));
            plainStart = end;
            pos = end - 1;
        }
        if (plainStart < text.Length) segments.Add(new Segment(plainStart, text.Length - plainStart, null));
        return segments;
    }

    private AddedToken? LongestAt(string text, int pos, bool includeSpecial)
    {
        if (!_byFirstChar.TryGetValue(text[pos], out var candidates)) return null;
        foreach (var t in candidates)
            if ((includeSpecial || !t.IsSpecial) && pos + t.Content.Length <= text.Length
                && string.CompareOrdinal(text, pos, t.Content, 0, t.Content.Length) == 0)
                return t;
        return null;
    }
}
