namespace MiniCPM.Engine.Images;

/// <summary>
/// The UHD geometry of one image (no pixels): the overview size, and when the image is sliced, the grid, the size the
/// original is resized to before cutting, and the size of each tile. All piece sides are multiples of the patch size
/// (except with slice mode off, where the image is used as it is).
/// </summary>
public sealed record SlicePlan
{
    public required int OriginalWidth { get; init; }
    public required int OriginalHeight { get; init; }
    public required int OverviewWidth { get; init; }
    public required int OverviewHeight { get; init; }
    /// <summary>The tile grid; null when the image is one piece (the overview only).</summary>
    public SliceGrid? Grid { get; init; }
    /// <summary>The size the original is resized to before it is cut (0 when there is no grid).</summary>
    public int RefineWidth { get; init; }
    public int RefineHeight { get; init; }

    public int SliceWidth => Grid is { } g ? RefineWidth / g.Columns : 0;
    public int SliceHeight => Grid is { } g ? RefineHeight / g.Rows : 0;

    /// <summary>Overview plus tiles.</summary>
    public int PieceCount => 1 + (Grid?.Count ?? 0);
}
