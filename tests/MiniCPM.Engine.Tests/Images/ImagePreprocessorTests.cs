using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Golden;
using MiniCPM.Engine.Images;

namespace MiniCPM.Engine.Tests.Images;

/// <summary>Normalization and the whole preprocessing path against the golden vision / multimodal pixel tensors.</summary>
public sealed class ImagePreprocessorTests
{
    [Theory]
    [InlineData("vision", "pixel_values_0", 448, 448)]
    [InlineData("vision", "pixel_values_1", 812, 140)]
    [InlineData("multimodal", "pixel_values_0", 448, 448)]
    public void Normalization_reproduces_the_golden_pixels_exactly(string caseName, string tensor, int width, int height)
    {
        // The golden pixels were made as (u8/255 − 0.5)/0.5 from a synthetic image that the recipe does not let us
        // regenerate; the bytes are recovered from the floats (the map is one-to-one), then normalized again here.
        using var golden = GoldenCase.Open(TestData.GoldenCase(caseName));
        var expected = golden.ReadFloats(tensor);
        Assert.Equal(new long[] { 3, height, width }, golden.Shape(tensor));
        var image = RecoverBytes(expected, width, height);

        var actual = PixelNormalizer.ToChw(image);

        Assert.Equal(expected.Length, actual.Length);
        int first = Enumerable.Range(0, expected.Length)
            .FirstOrDefault(i => BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]), -1);
        Assert.True(first < 0, first < 0 ? "" : $"{caseName}/{tensor}[{first}]: {actual[first]:R} instead of {expected[first]:R}");
    }

    [Fact]
    public void A_448_square_is_one_piece_of_32_by_32_patches_equal_to_the_golden_slice()
    {
        using var golden = GoldenCase.Open(TestData.GoldenCase("multimodal"));
        var expected = golden.ReadFloats("pixel_values_0");
        var image = RecoverBytes(expected, 448, 448);

        var result = new ImagePreprocessor(new SliceConfig()).Preprocess(image);

        var piece = Assert.Single(result.Pieces);
        Assert.Equal(golden.ReadInts("tgt_sizes"), new[] { piece.PatchRows, piece.PatchColumns });
        Assert.Equal(expected, piece.Pixels);
    }

    [Fact]
    public void A_1344_square_gives_an_overview_and_nine_448_slices()
    {
        var result = new ImagePreprocessor(new SliceConfig()).Preprocess(ImageFixtures.Pattern(1344, 1344, 4));

        Assert.Equal(10, result.Pieces.Count);
        Assert.All(result.Pieces, p => Assert.Equal((448, 448, 32, 32, 3 * 448 * 448), (p.Width, p.Height, p.PatchRows, p.PatchColumns, p.Pixels.Length)));
        Assert.Equal(ImagePieceRole.Overview, result.Pieces[0].Role);
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (i / 3, i % 3)), result.Pieces.Skip(1).Select(p => (p.Row, p.Column)));
        Assert.InRange(result.Pieces.Min(p => p.Pixels.Min()), -1f, 1f);
        Assert.InRange(result.Pieces.Max(p => p.Pixels.Max()), -1f, 1f);
    }

    [Fact]
    public void Patch_grid_follows_the_piece_size_for_wide_images()
    {
        var result = new ImagePreprocessor(new SliceConfig()).Preprocess(ImageFixtures.Pattern(700, 100, 0));
        var piece = Assert.Single(result.Pieces);
        Assert.Equal((12, 84), (piece.PatchRows, piece.PatchColumns)); // 1176×168: more than 70 patches across
    }

    [Fact]
    public void Mean_and_std_are_applied_per_channel_in_chw_order()
    {
        var image = new RgbImage(2, 1, [0, 51, 255, 255, 102, 0]);
        var chw = PixelNormalizer.ToChw(image, [0.5f, 0.25f, 0f], [0.5f, 0.5f, 1f]);
        // R plane: (0 − .5)/.5, (1 − .5)/.5; G: (.2 − .25)/.5, (.4 − .25)/.5; B: 1, 0.
        Assert.Equal(new[] { -1f, 1f, (51 / 255f - 0.25f) / 0.5f, (102 / 255f - 0.25f) / 0.5f, 1f, 0f }, chw);
    }

    private static RgbImage RecoverBytes(float[] chw, int width, int height)
    {
        var image = RgbImage.Create(width, height);
        int plane = width * height;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
                image.Pixels[i * 3 + c] = (byte)Math.Round((chw[c * plane + i] * 0.5 + 0.5) * 255);
        return image;
    }
}
