namespace MiniCPM.Engine.Generation;

/// <summary>Streams a finished token list (a beam search result) as <see cref="GeneratedToken"/>s, applying the stop
/// strings to its text: the list is cut after the token that completes a stop string.</summary>
internal static class Replay
{
    public static List<GeneratedToken> Tokens((int[] Tokens, FinishReason Finish) result, DecodingContext context)
    {
        var text = context.NewReplyText();
        var items = new List<GeneratedToken>(result.Tokens.Length);
        for (var i = 0; i < result.Tokens.Length; i++)
        {
            var id = result.Tokens[i];
            var isLast = i == result.Tokens.Length - 1;
            var stopToken = isLast && result.Finish == FinishReason.StopToken;
            var piece = text is null || stopToken ? "" : text.Push(id);
            if (text is { Stopped: true })
            {
                items.Add(new GeneratedToken(id, piece, FinishReason.StopString));
                return items;
            }
            items.Add(isLast
                ? new GeneratedToken(id, piece + (text?.Finish() ?? ""), result.Finish)
                : new GeneratedToken(id, piece));
        }
        return items;
    }
}
