using MiniCPM.Engine.Configuration;

namespace MiniCPM.Engine.Images;

/// <summary>
/// How an image is written into the prompt (HF MiniCPMVImageProcessor.get_slice_image_placeholder): whether it gets
/// an <c>&lt;image_id&gt;k&lt;/image_id&gt;</c> prefix, whether slices are laid out, how many placeholder tokens a
/// piece takes, and the slicing cap for this call.
/// </summary>
public sealed record ImagePromptOptions
{
    /// <summary>Prefix each image with its index (2.6 images: on; video frames and omni units: off).</summary>
    public bool UseImageId { get; init; } = true;
    /// <summary>Slice large images into overview + tiles (config slice_mode).</summary>
    public bool SliceMode { get; init; } = true;
    /// <summary>Placeholder tokens per piece = resampler queries (query_num, 64).</summary>
    public int QueryNum { get; init; } = 64;
    /// <summary>Overrides the config's max_slice_nums for these images (null: the config's value).</summary>
    public int? MaxSliceNums { get; init; }

    /// <summary>The model config's defaults for still images.</summary>
    public static ImagePromptOptions ForImages(SliceConfig slicing, int queryNum = 64) => new()
    {
        UseImageId = slicing.UseImageId,
        SliceMode = slicing.SliceMode,
        QueryNum = queryNum,
    };

    /// <summary>
    /// Video frames as the official 2.6 recipe passes them: no image ids, and a caller-chosen slice cap (2; 1 when
    /// memory is short or frames are large).
    /// </summary>
    public static ImagePromptOptions ForVideoFrames(SliceConfig slicing, int maxSliceNums = 2, int queryNum = 64) =>
        ForImages(slicing, queryNum) with { UseImageId = false, MaxSliceNums = maxSliceNums };
}
