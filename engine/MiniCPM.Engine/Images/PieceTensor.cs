namespace MiniCPM.Engine.Images;

/// <summary>
/// One normalized piece ready for the vision tower: float32 [3, Height, Width] pixels (channel-first) and its patch
/// grid (PatchRows = Height / 14, PatchColumns = Width / 14 — HF's tgt_size).
/// </summary>
public sealed record PieceTensor(ImagePieceRole Role, int Row, int Column, int Width, int Height, int PatchRows, int PatchColumns, float[] Pixels)
{
    public int Patches => PatchRows * PatchColumns;
}
