using System.Text;
using MiniCPM.Engine.Configuration;

namespace MiniCPM.Engine.Images;

/// <summary>
/// The MiniCPM-V 2.6 placeholder text for one image (HF get_slice_image_placeholder + get_grid_placeholder):
/// <code>
/// [&lt;image_id&gt;k&lt;/image_id&gt;]                       only with use_image_id
/// &lt;image&gt; &lt;unk&gt;×64 &lt;/image&gt;                         the overview
/// (&lt;slice&gt; &lt;unk&gt;×64 &lt;/slice&gt;)×columns, "\n" between rows  only with slice_mode and a grid
/// </code>
/// with no separators other than the newlines between tile rows. The grid comes from the same plan as the pixels,
/// so the runs always match the pieces.
/// </summary>
public static class ImagePlaceholderLayout
{
    public const string ImageStart = "<image>";
    public const string ImageEnd = "</image>";
    public const string SliceStart = "<slice>";
    public const string SliceEnd = "</slice>";
    public const string ImageIdStart = "<image_id>";
    public const string ImageIdEnd = "</image_id>";
    /// <summary>The placeholder token whose embedding rows are replaced by resampler outputs.</summary>
    public const string Placeholder = "<unk>";

    /// <summary>The tag chat() puts in a message where an image stands before it is expanded.</summary>
    public const string MessageTag = "(<image>./</image>)";

    /// <param name="imageIndex">k: the image's index among the images of the whole sample (counted across turns).</param>
    public static ImagePlaceholder Build(SlicePlan plan, int imageIndex, ImagePromptOptions options)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(options);
        if (imageIndex < 0) throw new ArgumentOutOfRangeException(nameof(imageIndex), "image index must not be negative");
        if (options.QueryNum <= 0) throw new ArgumentOutOfRangeException(nameof(options), $"query_num {options.QueryNum} must be positive");

        string run = string.Concat(Enumerable.Repeat(Placeholder, options.QueryNum));
        var text = new StringBuilder();
        var pieces = new List<ImagePlaceholder.PieceSlot>();

        if (options.UseImageId) text.Append(ImageIdStart).Append(imageIndex).Append(ImageIdEnd);
        text.Append(ImageStart).Append(run).Append(ImageEnd);
        pieces.Add(new(ImagePieceRole.Overview, 0, 0));

        if (options.SliceMode && plan.Grid is { } grid)
        {
            for (int row = 0; row < grid.Rows; row++)
            {
                if (row > 0) text.Append('\n');
                for (int column = 0; column < grid.Columns; column++)
                {
                    text.Append(SliceStart).Append(run).Append(SliceEnd);
                    pieces.Add(new(ImagePieceRole.Slice, row, column));
                }
            }
        }
        return new ImagePlaceholder(text.ToString(), pieces, options.QueryNum);
    }

    /// <summary>Plan an image of the given size with the options' slice cap, then lay out its placeholder.</summary>
    public static ImagePlaceholder Build(int width, int height, int imageIndex, SliceConfig slicing, ImagePromptOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var plan = UhdSlicePlanner.Plan(width, height, slicing with { SliceMode = options.SliceMode }, options.MaxSliceNums);
        return Build(plan, imageIndex, options);
    }
}
