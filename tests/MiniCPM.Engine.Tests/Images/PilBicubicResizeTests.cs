using System.Text.RegularExpressions;
using MiniCPM.Engine.Images;

namespace MiniCPM.Engine.Tests.Images;

/// <summary>The hand-written resize against Pillow 9.4's own Image.resize(…, BICUBIC) output (tests/data/images/resize).</summary>
public sealed partial class PilBicubicResizeTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(ImageFixtures.File("resize"), "*_to_*.rgb").Order())
            data.Add(Path.GetFileName(file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_pillow_bit_for_bit(string fixture)
    {
        var m = FixtureName().Match(fixture);
        Assert.True(m.Success, fixture);
        int sw = int.Parse(m.Groups[1].Value), sh = int.Parse(m.Groups[2].Value);
        int tw = int.Parse(m.Groups[3].Value), th = int.Parse(m.Groups[4].Value);
        var source = ImageFixtures.ReadRaw($"resize/{sw}x{sh}.rgb", sw, sh);
        var expected = ImageFixtures.ReadRaw($"resize/{fixture}", tw, th);

        var actual = PilBicubicResize.Resize(source, tw, th);

        var (differing, max) = ImageFixtures.Compare(expected, actual);
        Assert.True(differing == 0, $"{fixture}: {differing} bytes differ from Pillow, by up to {max}");
    }

    [Fact]
    public void The_procedural_sources_are_the_generators_pattern()
    {
        // The slicing tests rebuild bigger images from the same pattern instead of storing them.
        foreach (var (w, h) in new[] { (37, 23), (61, 45), (200, 150), (5, 3), (1, 1) })
            Assert.Equal(ImageFixtures.ReadRaw($"resize/{w}x{h}.rgb", w, h).Pixels, ImageFixtures.Pattern(w, h, w + h).Pixels);
    }

    [Fact]
    public void Same_size_is_a_copy()
    {
        var source = ImageFixtures.Pattern(9, 4, 3);
        var copy = PilBicubicResize.Resize(source, 9, 4);
        Assert.NotSame(source.Pixels, copy.Pixels);
        Assert.Equal(source.Pixels, copy.Pixels);
    }

    [Fact]
    public void A_flat_image_stays_flat_at_any_scale()
    {
        // Normalized taps sum to one, so a constant survives both passes exactly (no drift from fixed-point rounding).
        var flat = new RgbImage(17, 11, Enumerable.Repeat((byte)200, 17 * 11 * 3).ToArray());
        foreach (var (w, h) in new[] { (3, 2), (40, 29), (17, 30), (5, 11) })
            Assert.All(PilBicubicResize.Resize(flat, w, h).Pixels, b => Assert.Equal(200, b));
    }

    [Fact]
    public void Kernel_and_taps_follow_pillows_definition()
    {
        // Keys' cubic, a = -0.5: 1 at 0, 0 at ±1 and ±2, -0.0625 at 1.5, 0.5625 at 0.5.
        Assert.Equal(1.0, ResampleCoefficients.BicubicKernel(0));
        Assert.Equal(0.0, ResampleCoefficients.BicubicKernel(1));
        Assert.Equal(0.0, ResampleCoefficients.BicubicKernel(-2));
        Assert.Equal(-0.0625, ResampleCoefficients.BicubicKernel(1.5));
        Assert.Equal(0.5625, ResampleCoefficients.BicubicKernel(-0.5));

        // Shrinking 10 → 4 (scale 2.5): support 5, window of output 0 = [max(int(1.25 - 5 + 0.5), 0), int(1.25 + 5.5)) = [0, 6).
        var taps = ResampleCoefficients.Bicubic(10, 4);
        Assert.Equal(2 * 5 + 1, taps.MaxTaps);
        Assert.Equal((0, 6), (taps.First[0], taps.Count[0]));
        // Output 3: center 8.75 → [int(4.25), min(int(14.25), 10)) = [4, 10).
        Assert.Equal((4, 6), (taps.First[3], taps.Count[3]));
        for (int i = 0; i < 4; i++)
        {
            int sum = 0;
            for (int t = 0; t < taps.Count[i]; t++) sum += taps.Weights[i * taps.MaxTaps + t];
            Assert.InRange(sum, (1 << 22) - 8, (1 << 22) + 8);
        }
    }

    [GeneratedRegex(@"^(\d+)x(\d+)_to_(\d+)x(\d+)\.rgb$")]
    private static partial Regex FixtureName();
}
