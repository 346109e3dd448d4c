using MiniCPM.Engine.Generation;

namespace MiniCPM.Engine.Tests.Generation;

public sealed class SamplingTests
{
    private static GenerationOptions PlainSampling(ulong seed) =>
        new() { Temperature = 1f, TopK = 0, TopP = 1f, RepetitionPenalty = 1f, Seed = seed };

    [Fact]
    public void SplitMix64Seeding_MatchesPublishedFirstOutput()
    {
        // SplitMix64 from state 0 first returns 0xE220A8397B1DCDAF, the next 0x6E789E6AA1B965F4 (Vigna's reference);
        // xoshiro256**'s first output is rotl(s1 * 5, 7) * 9 with s1 the second one.
        var expected = unchecked(ulong.RotateLeft(0x6E789E6AA1B965F4UL * 5, 7) * 9);
        Assert.Equal(expected, new SeededRandom(0).NextUInt64());
    }

    [Fact]
    public void SameSeed_SameTokens_DifferentSeed_DifferentTokens()
    {
        float[] logits = [0f, 0.5f, 1f, 0.2f, -0.3f, 0.8f];
        int[] Draw(ulong seed)
        {
            var pipeline = new LogitsPipeline(PlainSampling(seed), null);
            return Enumerable.Range(0, 64).Select(_ => pipeline.Choose((float[])logits.Clone(), [])).ToArray();
        }
        Assert.Equal(Draw(42), Draw(42));
        Assert.NotEqual(Draw(42), Draw(43));
    }

    [Theory]
    [InlineData(1f, new[] { 0.2, 0.3, 0.5 })]
    [InlineData(0.5f, new[] { 0.2 * 0.2 / 0.38, 0.3 * 0.3 / 0.38, 0.5 * 0.5 / 0.38 })] // p^(1/T) renormalized
    public void Sampling_FollowsTheSoftmaxWithinFourSigma(float temperature, double[] expected)
    {
        const int draws = 20_000;
        var logits = new[] { 0.2, 0.3, 0.5 }.Select(p => (float)Math.Log(p)).ToArray();
        var pipeline = new LogitsPipeline(PlainSampling(2024) with { Temperature = temperature }, null);
        var counts = new int[3];
        for (var i = 0; i < draws; i++) counts[pipeline.Choose((float[])logits.Clone(), [])]++;
        for (var id = 0; id < 3; id++)
        {
            var sigma = Math.Sqrt(draws * expected[id] * (1 - expected[id]));
            Assert.InRange(counts[id], draws * expected[id] - 4 * sigma, draws * expected[id] + 4 * sigma);
        }
    }

    [Fact]
    public void Sampling_NeverPicksFilteredTokens()
    {
        // top-k 2 of [0.1, 0.2, 0.3, 0.4]: only ids 2 and 3, in ratio 3:4.
        var logits = new[] { 0.1, 0.2, 0.3, 0.4 }.Select(p => (float)Math.Log(p)).ToArray();
        var pipeline = new LogitsPipeline(PlainSampling(5) with { TopK = 2 }, null);
        var counts = new int[4];
        for (var i = 0; i < 7000; i++) counts[pipeline.Choose((float[])logits.Clone(), [])]++;
        Assert.Equal(0, counts[0] + counts[1]);
        var sigma = Math.Sqrt(7000 * (3.0 / 7) * (4.0 / 7));
        Assert.InRange(counts[2], 3000 - 4 * sigma, 3000 + 4 * sigma);
    }
}
