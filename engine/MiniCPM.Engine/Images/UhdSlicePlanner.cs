using MiniCPM.Engine.Configuration;

namespace MiniCPM.Engine.Images;

/// <summary>
/// MiniCPM-V 2.6's "UHD" slicing geometry, with the HF image processor's semantics (MiniCPMVImageProcessor:
/// ensure_divide, find_best_resize, get_sliced_grid, get_refine_size): an image larger than one 448² piece gets a
/// downscaled overview plus a grid of up to max_slice_nums tiles whose shape best matches the image's aspect ratio.
/// </summary>
public static class UhdSlicePlanner
{
    /// <summary>The plan for a <paramref name="width"/> × <paramref name="height"/> image.</summary>
    /// <param name="maxSliceNums">Overrides the config's max_slice_nums (video frames: 2, omni/streaming: 1).</param>
    /// <param name="neverSplit">HF's never_split: one upscaled/downscaled piece whatever the size.</param>
    public static SlicePlan Plan(int width, int height, SliceConfig config, int? maxSliceNums = null, bool neverSplit = false)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}×{height} must be positive");
        int maxSlices = maxSliceNums ?? config.MaxSliceNums;
        if (maxSlices <= 0) throw new ArgumentOutOfRangeException(nameof(maxSliceNums), $"max_slice_nums {maxSlices} must be positive");
        int s = config.ScaleResolution, p = config.PatchSize;

        // slice_mode off: the processor hands the image over untouched, as one piece.
        if (!config.SliceMode)
            return new SlicePlan { OriginalWidth = width, OriginalHeight = height, OverviewWidth = width, OverviewHeight = height };

        var grid = neverSplit ? null : BestGrid(width, height, maxSlices, s);
        if (grid is null)
        {
            var (ow, oh) = BestResize(width, height, s, p, allowUpscale: true);
            return new SlicePlan { OriginalWidth = width, OriginalHeight = height, OverviewWidth = ow, OverviewHeight = oh };
        }

        var (overviewW, overviewH) = BestResize(width, height, s, p, allowUpscale: false);
        var (refineW, refineH) = RefineSize(width, height, grid.Value, s, p);
        return new SlicePlan
        {
            OriginalWidth = width, OriginalHeight = height,
            OverviewWidth = overviewW, OverviewHeight = overviewH,
            Grid = grid, RefineWidth = refineW, RefineHeight = refineH,
        };
    }

    /// <summary>ensure_divide: the nearest multiple of <paramref name="patch"/> (Python round: ties to even), at least one patch.</summary>
    public static int EnsureDivide(double length, int patch) =>
        Math.Max((int)Math.Round(length / patch, MidpointRounding.ToEven) * patch, patch);

    /// <summary>
    /// find_best_resize: when the area exceeds scale² (or upscaling is allowed) rescale to area ≈ scale² keeping the
    /// aspect ratio (height = int(scale / √ratio), width = int(height · ratio), both truncated); then round both sides
    /// to multiples of the patch.
    /// </summary>
    public static (int Width, int Height) BestResize(double width, double height, int scaleResolution, int patch, bool allowUpscale)
    {
        if (width * height > (double)scaleResolution * scaleResolution || allowUpscale)
        {
            double ratio = width / height;
            height = (int)(scaleResolution / Math.Sqrt(ratio));
            width = (int)(height * ratio);
        }
        return (EnsureDivide(width, patch), EnsureDivide(height, patch));
    }

    /// <summary>
    /// get_sliced_grid: null when the image fits in one piece (⌈area / scale²⌉ capped by max_slice_nums is ≤ 1);
    /// otherwise, over slice counts {multiple − 1, multiple, multiple + 1} (not 1, not above max_slice_nums) and
    /// their divisor pairs (columns = divisor, increasing), the grid whose log aspect ratio is closest to the image's,
    /// the first one winning ties.
    /// </summary>
    public static SliceGrid? BestGrid(int width, int height, int maxSliceNums, int scaleResolution)
    {
        double logRatio = Math.Log((double)width / height);
        double ratio = (double)width * height / ((double)scaleResolution * scaleResolution);
        int multiple = (int)Math.Min(Math.Ceiling(ratio), maxSliceNums);
        if (multiple <= 1) return null;

        SliceGrid? best = null;
        double bestError = double.PositiveInfinity;
        foreach (int count in new[] { multiple - 1, multiple, multiple + 1 })
        {
            if (count == 1 || count > maxSliceNums) continue;
            for (int columns = 1; columns <= count; columns++)
            {
                if (count % columns != 0) continue;
                int rows = count / columns;
                double error = Math.Abs(logRatio - Math.Log((double)columns / rows));
                if (error < bestError)
                {
                    best = new SliceGrid(columns, rows);
                    bestError = error;
                }
            }
        }
        return best;
    }

    /// <summary>get_refine_size: the size whose grid cells are each a best (upscaling) resize of one cell of the original.</summary>
    public static (int Width, int Height) RefineSize(int width, int height, SliceGrid grid, int scaleResolution, int patch)
    {
        int refineW = EnsureDivide(width, grid.Columns);
        int refineH = EnsureDivide(height, grid.Rows);
        var (cellW, cellH) = BestResize((double)refineW / grid.Columns, (double)refineH / grid.Rows, scaleResolution, patch, allowUpscale: true);
        return (cellW * grid.Columns, cellH * grid.Rows);
    }
}
