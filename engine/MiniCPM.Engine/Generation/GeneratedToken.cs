namespace MiniCPM.Engine.Generation;

/// <summary>
/// One streamed token. <see cref="Text"/> is the text that became final with this token: it may be empty (the token
/// ends inside a UTF-8 character, or might start a stop string) and never holds half a character. The concatenated
/// texts of a stream are the reply's text. The last token of a stream carries <see cref="Finish"/>; when that is
/// <see cref="FinishReason.StopToken"/> the token is the stop token itself and contributes no text of its own.
/// </summary>
public sealed record GeneratedToken(int TokenId, string Text, FinishReason? Finish = null)
{
    public bool IsLast => Finish is not null;
}
