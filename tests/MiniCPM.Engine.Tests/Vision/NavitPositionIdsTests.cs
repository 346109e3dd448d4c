using MiniCPM.Engine.Vision;

namespace MiniCPM.Engine.Tests.Vision;

/// <summary>
/// NaViT position buckets against the reference doc's hand-checked values (preprocessing-and-prompting.md §3) and
/// against floor(70·i/n), which they must equal everywhere except where a float32 arange value lands just below a
/// boundary.
/// </summary>
public class NavitPositionIdsTests
{
    [Fact]
    public void TheDocsTestVectorForTwentyFivePatches()
    {
        int[] expected = [0, 2, 5, 8, 11, 13, 16, 19, 22, 25, 27, 30, 33, 36, 39, 41, 44, 47, 50, 53, 55, 58, 61, 64, 67];
        Assert.Equal(expected, NavitPositionIds.Buckets(25, 70));
    }

    [Theory]
    [InlineData(25, new[] { 5, 10, 15, 20 })]
    [InlineData(49, new[] { 7, 14, 35, 42 })]
    [InlineData(50, new[] { 5, 10, 15, 20, 30, 40 })]
    [InlineData(58, new[] { 29 })]
    [InlineData(32, new int[0])]
    [InlineData(37, new int[0])]
    [InlineData(70, new int[0])]
    public void BucketsDifferFromFloorExactlyWhereTheReferenceDoes(int n, int[] lowered)
    {
        int[] buckets = NavitPositionIds.Buckets(n, 70);
        for (int i = 0; i < n; i++)
        {
            int floor = 70 * i / n;
            Assert.Equal(lowered.Contains(i) ? floor - 1 : floor, buckets[i]);
        }
    }

    [Fact]
    public void EverySizeUpTo128DiffersFromFloorOnlyForTheListedSizes()
    {
        // The doc's list for 8-lane (AVX2) torch, checked against real torch output.
        int[] listed = [25, 49, 50, 55, 58, 77, 82, 86, 94, 98, 100, 110, 115];
        for (int n = 1; n <= 128; n++)
        {
            int[] buckets = NavitPositionIds.Buckets(n, 70);
            bool differs = Enumerable.Range(0, n).Any(i => buckets[i] != 70 * i / n);
            Assert.True(differs == listed.Contains(n), $"n = {n}");
        }
    }

    [Fact]
    public void BoundariesAreSixtyNineAndFractionsOnePerPatch()
    {
        Assert.Equal(69, TorchCpuArange.Float32(1.0 / 70, 1.0, 1.0 / 70).Length);
        for (int n = 1; n <= 400; n++)
            Assert.Equal(n, TorchCpuArange.Float32(0, 1 - 1e-6, 1f / n).Length);
    }

    [Fact]
    public void SidesLongerThanTheTableShareBuckets()
    {
        // A 10 × 143-patch slice (an elongated UHD slice) is legal: buckets stay in [0, 70) and never decrease.
        int[] buckets = NavitPositionIds.Buckets(143, 70);
        Assert.Equal(0, buckets[0]);
        Assert.Equal(69, buckets[^1]);
        for (int i = 1; i < buckets.Length; i++) Assert.InRange(buckets[i] - buckets[i - 1], 0, 1);
        int[] ids = NavitPositionIds.ForGrid(10, 143, 70);
        Assert.Equal(1430, ids.Length);
        Assert.All(ids, id => Assert.InRange(id, 0, 4899));
        Assert.Equal(NavitPositionIds.Buckets(10, 70)[9] * 70 + 69, ids[^1]);
    }
}
