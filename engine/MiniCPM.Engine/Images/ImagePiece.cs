namespace MiniCPM.Engine.Images;

/// <summary>
/// One piece of a sliced image as RGB pixels: the overview (Row = Column = 0), or the tile at grid (Row, Column).
/// </summary>
public sealed record ImagePiece(ImagePieceRole Role, int Row, int Column, RgbImage Image)
{
    public int Width => Image.Width;
    public int Height => Image.Height;
}
