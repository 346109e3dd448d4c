namespace MiniCPM.Engine.Images;

/// <summary>
/// RGB bytes → the float32 [3, H, W] tensor the vision tower reads: x / 255, then (x − mean) / std per channel, all
/// in float32 as the HF processor's numpy path computes it (so the values match the reference bit for bit).
/// </summary>
public static class PixelNormalizer
{
    private static readonly float[] Half = [0.5f, 0.5f, 0.5f];

    /// <summary>Channel-first planes: element [c, y, x] at c·H·W + y·W + x. Mean and std default to MiniCPM's 0.5.</summary>
    public static float[] ToChw(RgbImage image, ReadOnlySpan<float> mean = default, ReadOnlySpan<float> std = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (mean.IsEmpty) mean = Half;
        if (std.IsEmpty) std = Half;
        if (mean.Length != RgbImage.Channels || std.Length != RgbImage.Channels)
            throw new ArgumentException("mean and std need one value per channel (3)");

        int plane = image.Width * image.Height;
        var chw = new float[checked(plane * RgbImage.Channels)];
        byte[] rgb = image.Pixels;
        Span<float> table = stackalloc float[256];
        for (int c = 0; c < RgbImage.Channels; c++)
        {
            // A byte has 256 values: compute each one's normalized float once, with the reference's exact float32
            // steps, and look the pixels up (the same bits as computing every pixel, without two divisions each).
            float m = mean[c], s = std[c];
            for (int v = 0; v < 256; v++) table[v] = (v / 255f - m) / s;
            var destination = chw.AsSpan(c * plane, plane);
            for (int i = 0; i < plane; i++)
                destination[i] = table[rgb[i * RgbImage.Channels + c]];
        }
        return chw;
    }
}
