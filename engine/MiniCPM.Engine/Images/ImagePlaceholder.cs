namespace MiniCPM.Engine.Images;

/// <summary>
/// One image's placeholder text and the pieces its placeholder runs stand for, in text order (overview, then tiles
/// row-major): the i-th run of placeholder tokens in the text receives the resampler rows of <see cref="Pieces"/>[i].
/// </summary>
public sealed record ImagePlaceholder(string Text, IReadOnlyList<ImagePlaceholder.PieceSlot> Pieces, int QueryNum)
{
    /// <summary>Which piece a placeholder run is for: the overview, or the tile at (Row, Column).</summary>
    public readonly record struct PieceSlot(ImagePieceRole Role, int Row, int Column);

    /// <summary>Rows of image embeddings this placeholder takes (pieces × query_num).</summary>
    public int EmbeddingRows => Pieces.Count * QueryNum;
}
