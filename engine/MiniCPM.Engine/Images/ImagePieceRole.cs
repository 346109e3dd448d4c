namespace MiniCPM.Engine.Images;

/// <summary>What a piece of a sliced image is: the whole-image overview, or one tile of the high-resolution grid.</summary>
public enum ImagePieceRole
{
    Overview,
    Slice,
}
