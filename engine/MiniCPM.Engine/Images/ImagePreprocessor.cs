using MiniCPM.Engine.Configuration;

namespace MiniCPM.Engine.Images;

/// <summary>
/// Image → normalized pieces, the whole HF MiniCPMVImageProcessor path: plan the UHD slicing, resize and cut with PIL
/// bicubic semantics, normalize each piece to float32 [3, H, W] with the vision tower's mean/std.
/// </summary>
public sealed class ImagePreprocessor
{
    private readonly SliceConfig _slicing;
    private readonly float[] _mean;
    private readonly float[] _std;

    public ImagePreprocessor(SliceConfig slicing, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null)
    {
        ArgumentNullException.ThrowIfNull(slicing);
        _slicing = slicing;
        _mean = mean?.ToArray() ?? [0.5f, 0.5f, 0.5f];
        _std = std?.ToArray() ?? [0.5f, 0.5f, 0.5f];
        if (_mean.Length != 3 || _std.Length != 3) throw new ArgumentException("mean and std need 3 values each");
    }

    public SliceConfig Slicing => _slicing;

    /// <summary>The geometry only (what the prompt placeholder needs), without touching pixels.</summary>
    public SlicePlan Plan(int width, int height, int? maxSliceNums = null) =>
        UhdSlicePlanner.Plan(width, height, _slicing, maxSliceNums);

    /// <param name="maxSliceNums">Per-call override of max_slice_nums (video frames: 2 or 1).</param>
    public PreprocessedImage Preprocess(RgbImage image, int? maxSliceNums = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        var plan = Plan(image.Width, image.Height, maxSliceNums);
        var pieces = UhdSlicer.Slice(image, plan);
        var tensors = new PieceTensor[pieces.Count];
        int patch = _slicing.PatchSize;
        for (int i = 0; i < pieces.Count; i++)
        {
            var piece = pieces[i];
            tensors[i] = new PieceTensor(piece.Role, piece.Row, piece.Column, piece.Width, piece.Height,
                piece.Height / patch, piece.Width / patch, PixelNormalizer.ToChw(piece.Image, _mean, _std));
        }
        return new PreprocessedImage(plan, tensors);
    }
}
