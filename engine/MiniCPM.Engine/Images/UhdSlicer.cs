using MiniCPM.Engine.Configuration;

namespace MiniCPM.Engine.Images;

/// <summary>
/// Cuts an image into its UHD pieces (HF slice_image + split_to_patches): the overview resized with PIL bicubic to the
/// plan's overview size, then — when the plan has a grid — the original resized to the refine size and cropped into
/// equal tiles, row-major (top row left to right, then the next row).
/// </summary>
public static class UhdSlicer
{
    public static IReadOnlyList<ImagePiece> Slice(RgbImage image, SliceConfig config, int? maxSliceNums = null) =>
        Slice(image, UhdSlicePlanner.Plan(image.Width, image.Height, config, maxSliceNums));

    public static IReadOnlyList<ImagePiece> Slice(RgbImage image, SlicePlan plan)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(plan);
        if (image.Width != plan.OriginalWidth || image.Height != plan.OriginalHeight)
            throw new ArgumentException($"the plan is for a {plan.OriginalWidth}×{plan.OriginalHeight} image, this one is {image.Width}×{image.Height}", nameof(plan));

        var pieces = new List<ImagePiece>(plan.PieceCount)
        {
            new(ImagePieceRole.Overview, 0, 0, PilBicubicResize.Resize(image, plan.OverviewWidth, plan.OverviewHeight)),
        };
        if (plan.Grid is not { } grid) return pieces;

        var refine = PilBicubicResize.Resize(image, plan.RefineWidth, plan.RefineHeight);
        int tileW = plan.SliceWidth, tileH = plan.SliceHeight;
        for (int row = 0; row < grid.Rows; row++)
            for (int column = 0; column < grid.Columns; column++)
                pieces.Add(new ImagePiece(ImagePieceRole.Slice, row, column, refine.Crop(column * tileW, row * tileH, tileW, tileH)));
        return pieces;
    }
}
