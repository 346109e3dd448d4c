namespace MiniCPM.Engine.Errors;

/// <summary>A token id is not a row of the model's embedding table. Nothing was changed.</summary>
public sealed class TokenOutOfRangeException : MiniCpmException
{
    public int TokenId { get; }
    public int Position { get; }
    public int VocabularySize { get; }

    public TokenOutOfRangeException(int tokenId, int position, int vocabularySize)
        : base($"token id {tokenId} at input position {position} is outside the vocabulary [0, {vocabularySize})")
    {
        TokenId = tokenId;
        Position = position;
        VocabularySize = vocabularySize;
    }
}
