using System.Security.Cryptography;
using MiniCPM.Engine.Images;

namespace MiniCPM.Engine.Tests.Images;

/// <summary>tests/data/images (made by tools/image-fixtures/make_image_fixtures.py with Pillow 9.4) and its pattern.</summary>
internal static class ImageFixtures
{
    public static string Root => Path.GetFullPath(Path.Combine(TestData.GoldenCase("llm"), "..", "..", "data", "images"));

    public static string File(string relative) => Path.Combine(Root, relative);

    /// <summary>The generator's integer-only pattern(): gradients, a checkerboard and "noise", wrapped to bytes.</summary>
    public static RgbImage Pattern(int width, int height, int seed)
    {
        var image = RgbImage.Create(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                {
                    long v = (long)x * (3 + c) + (long)y * (5 + 2 * c) + seed * 17;
                    v += ((long)x * x * 7 + (long)y * y * 11 + (long)x * y * 13 + c * 101 + seed * 31) % 61 * 2;
                    v += ((x / 5) + (y / 7)) % 2 == 1 ? 80 : 0;
                    image.Pixels[image.Offset(x, y) + c] = (byte)(v & 255);
                }
        return image;
    }

    public static RgbImage ReadRaw(string relative, int width, int height) => new(width, height, System.IO.File.ReadAllBytes(File(relative)));

    public static string Sha256(RgbImage image) => Convert.ToHexStringLower(SHA256.HashData(image.Pixels));

    /// <summary>(count of differing bytes, largest difference) between two equally sized images.</summary>
    public static (int Differing, int MaxDifference) Compare(RgbImage expected, RgbImage actual)
    {
        Assert.Equal((expected.Width, expected.Height), (actual.Width, actual.Height));
        int differing = 0, max = 0;
        for (int i = 0; i < expected.Pixels.Length; i++)
        {
            int d = Math.Abs(expected.Pixels[i] - actual.Pixels[i]);
            if (d == 0) continue;
            differing++;
            max = Math.Max(max, d);
        }
        return (differing, max);
    }
}
