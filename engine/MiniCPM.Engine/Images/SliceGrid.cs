namespace MiniCPM.Engine.Images;

/// <summary>How the high-resolution copy of an image is cut: <see cref="Columns"/> × <see cref="Rows"/> equal tiles.</summary>
public readonly record struct SliceGrid(int Columns, int Rows)
{
    public int Count => Columns * Rows;

    public override string ToString() => $"{Columns}×{Rows}";
}
