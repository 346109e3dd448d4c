using SkiaSharp;

namespace MiniCPM.Cli;

/// <summary>A picture for the demo with no download: a sky-to-sea gradient with a sun, PNG-encoded.</summary>
internal static class SyntheticPicture
{
    public static byte[] Png(int width, int height)
    {
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        int horizon = height * 3 / 5;
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            double sun = Math.Sqrt(Math.Pow(x - width * 0.7, 2) + Math.Pow(y - horizon * 0.8, 2));
            var color = sun < height / 8.0 ? new SKColor(255, 220, 90)
                : y < horizon ? new SKColor((byte)(250 - 120 * y / horizon), (byte)(140 + 60 * y / horizon), 200)
                : new SKColor(20, (byte)(60 + 80 * (y - horizon) / (height - horizon)), (byte)(120 + 100 * x / width));
            bitmap.SetPixel(x, y, color);
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
