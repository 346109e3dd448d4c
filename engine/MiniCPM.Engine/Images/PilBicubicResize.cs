namespace MiniCPM.Engine.Images;

/// <summary>
/// Pillow's <c>Image.resize(size, Image.BICUBIC)</c> on an 8-bit RGB image, reproduced bit for bit: a horizontal pass
/// into an 8-bit intermediate, then a vertical pass, each output = clamp((2^21 + Σ weightᵢ·pixelᵢ) >> 22, 0, 255) with
/// the fixed-point weights of <see cref="ResampleCoefficients"/>. An axis whose size does not change is not resampled
/// (Pillow skips that pass), and a same-size resize is a copy.
/// </summary>
public static class PilBicubicResize
{
    public static RgbImage Resize(RgbImage source, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"target size {width}×{height} must be positive");

        var image = source;
        if (width != source.Width)
            image = Horizontal(image, ResampleCoefficients.Bicubic(source.Width, width));
        if (height != source.Height)
            image = Vertical(image, ResampleCoefficients.Bicubic(source.Height, height));
        return ReferenceEquals(image, source) ? new RgbImage(source.Width, source.Height, (byte[])source.Pixels.Clone()) : image;
    }

    /// <summary>
    /// Resample every row. Pillow only computes the rows the vertical pass will read; every row is read by a bicubic
    /// vertical pass over the whole image, so computing all of them gives the same bytes.
    /// </summary>
    private static RgbImage Horizontal(RgbImage input, ResampleCoefficients taps)
    {
        var output = RgbImage.Create(taps.OutputSize, input.Height);
        byte[] src = input.Pixels, dst = output.Pixels;
        for (int y = 0; y < input.Height; y++)
        {
            int rowIn = y * input.Width * RgbImage.Channels;
            int rowOut = y * output.Width * RgbImage.Channels;
            for (int x = 0; x < output.Width; x++)
            {
                int first = taps.First[x], count = taps.Count[x], k = x * taps.MaxTaps;
                int r = Rounding, g = Rounding, b = Rounding;
                for (int t = 0; t < count; t++)
                {
                    int p = rowIn + (first + t) * RgbImage.Channels;
                    int w = taps.Weights[k + t];
                    r += src[p] * w;
                    g += src[p + 1] * w;
                    b += src[p + 2] * w;
                }
                int o = rowOut + x * RgbImage.Channels;
                dst[o] = Clip8(r);
                dst[o + 1] = Clip8(g);
                dst[o + 2] = Clip8(b);
            }
        }
        return output;
    }

    private static RgbImage Vertical(RgbImage input, ResampleCoefficients taps)
    {
        var output = RgbImage.Create(input.Width, taps.OutputSize);
        byte[] src = input.Pixels, dst = output.Pixels;
        int stride = input.Width * RgbImage.Channels;
        // Same sums as Pillow's per-pixel loop, accumulated a whole row per tap so the reads run along memory.
        var sums = new int[stride];
        for (int y = 0; y < output.Height; y++)
        {
            int first = taps.First[y], count = taps.Count[y], k = y * taps.MaxTaps;
            Array.Fill(sums, Rounding);
            for (int t = 0; t < count; t++)
            {
                int w = taps.Weights[k + t];
                var row = src.AsSpan((first + t) * stride, stride);
                for (int i = 0; i < row.Length; i++) sums[i] += row[i] * w;
            }
            var outRow = dst.AsSpan(y * stride, stride);
            for (int i = 0; i < outRow.Length; i++) outRow[i] = Clip8(sums[i]);
        }
        return output;
    }

    /// <summary>Half of the fixed-point unit: adding it before the shift rounds to nearest.</summary>
    private const int Rounding = 1 << (ResampleCoefficients.PrecisionBits - 1);

    /// <summary>Pillow's clip8: arithmetic shift (floor), then clamp to a byte.</summary>
    private static byte Clip8(int accumulator) => (byte)Math.Clamp(accumulator >> ResampleCoefficients.PrecisionBits, 0, 255);
}
