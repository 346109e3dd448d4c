namespace MiniCPM.Engine.Images;

/// <summary>
/// An 8-bit RGB image: <see cref="Pixels"/> holds Height rows of Width pixels, each pixel three bytes R, G, B
/// (PIL's "RGB" mode as a flat array). This is what the decoder produces and what resizing and slicing work on.
/// </summary>
public sealed class RgbImage
{
    public const int Channels = 3;

    public int Width { get; }
    public int Height { get; }
    /// <summary>Row-major RGB bytes, length Width·Height·3.</summary>
    public byte[] Pixels { get; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}×{height} must be positive");
        if (pixels.LongLength != (long)width * height * Channels)
            throw new ArgumentException($"{pixels.LongLength} bytes do not hold a {width}×{height} RGB image ({(long)width * height * Channels} bytes)", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>A black image of the given size.</summary>
    public static RgbImage Create(int width, int height) => new(width, height, new byte[checked(width * height * Channels)]);

    /// <summary>The byte offset of pixel (x, y).</summary>
    public int Offset(int x, int y) => (y * Width + x) * Channels;

    /// <summary>Channel <paramref name="channel"/> (0 = R, 1 = G, 2 = B) of pixel (x, y).</summary>
    public byte this[int x, int y, int channel] => Pixels[Offset(x, y) + channel];

    /// <summary>A copy of the rectangle at (x, y) of the given size — PIL's crop, which never resamples.</summary>
    public RgbImage Crop(int x, int y, int width, int height)
    {
        if (x < 0 || y < 0 || width <= 0 || height <= 0 || x + width > Width || y + height > Height)
            throw new ArgumentOutOfRangeException(nameof(x), $"crop ({x}, {y}) {width}×{height} is not inside the {Width}×{Height} image");
        var crop = Create(width, height);
        int rowBytes = width * Channels;
        for (int row = 0; row < height; row++)
            Array.Copy(Pixels, Offset(x, y + row), crop.Pixels, row * rowBytes, rowBytes);
        return crop;
    }
}
