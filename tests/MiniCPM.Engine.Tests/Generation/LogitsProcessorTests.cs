using MiniCPM.Engine.Generation;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>Each processor against hand-computed results on tiny vocabularies (Hugging Face semantics).</summary>
public sealed class LogitsProcessorTests
{
    private const float Gone = float.NegativeInfinity;

    [Fact]
    public void RepetitionPenalty_DividesPositive_MultipliesNegative_OncePerToken_ZeroStays()
    {
        float[] scores = [2f, -2f, 1f, 0f, 3f];
        RepetitionPenalty.Apply(scores, [0, 1, 1, 3, 1], 2f);
        Assert.Equal([1f, -4f, 1f, 0f, 3f], scores);
    }

    [Fact]
    public void RepetitionPenalty_IgnoresNothingGenerated()
    {
        float[] scores = [2f, -2f];
        RepetitionPenalty.Apply(scores, [], 2f);
        Assert.Equal([2f, -2f], scores);
    }

    [Fact]
    public void Temperature_Divides()
    {
        float[] scores = [1f, -2f, 0.5f];
        TemperatureScaling.Apply(scores, 0.5f);
        Assert.Equal([2f, -4f, 1f], scores);
    }

    [Fact]
    public void TopK_KeepsTheKHighest()
    {
        float[] scores = [1f, 3f, 0f, 2f, -1f];
        TopKFilter.Apply(scores, 2);
        Assert.Equal([Gone, 3f, Gone, 2f, Gone], scores);
    }

    [Fact]
    public void TopK_KeepsEveryTokenTiedWithTheKth()
    {
        float[] scores = [5f, 4f, 4f, 4f, 1f];
        TopKFilter.Apply(scores, 2);
        Assert.Equal([5f, 4f, 4f, 4f, Gone], scores);
    }

    [Fact]
    public void TopK_AtLeastTheVocabulary_ChangesNothing()
    {
        float[] scores = [1f, 2f, 3f];
        TopKFilter.Apply(scores, 3);
        Assert.Equal([1f, 2f, 3f], scores);
    }

    // Four equal logits: probabilities exactly 0.25 each, cumulative (ascending) 0.25, 0.5, 0.75, 1 — exact in float32.
    [Theory]
    [InlineData(0.5f, new[] { false, false, true, true })]   // 0.25 and 0.5 are <= 0.5: removed; kept mass 0.5 = p
    [InlineData(0.75f, new[] { false, true, true, true })]   // only 0.25 <= 0.25
    [InlineData(0.6f, new[] { false, true, true, true })]    // 0.25 <= 0.4 < 0.5
    [InlineData(0.25f, new[] { false, false, false, true })] // 0.75 <= 0.75
    [InlineData(0.2f, new[] { false, false, false, true })]  // the most likely token always stays
    [InlineData(1.0f, new[] { true, true, true, true })]     // off
    public void TopP_BoundaryRemovesCumulativeAtOrBelowOneMinusP_TiesLowerIdsFirst(float topP, bool[] kept)
    {
        float[] scores = [0f, 0f, 0f, 0f];
        TopPFilter.Apply(scores, topP);
        Assert.Equal(kept, scores.Select(s => !float.IsNegativeInfinity(s)).ToArray());
    }

    // Probabilities 0.1, 0.3, 0.2, 0.4 (ids 0..3); ascending by probability: id0 .1, id2 .2, id1 .3, id3 .4,
    // cumulative .1, .3, .6, 1.0.
    [Theory]
    [InlineData(0.95f, new[] { true, true, true, true })]    // threshold .05: nothing removed
    [InlineData(0.8f, new[] { false, true, true, true })]    // threshold .2: removes id0 (.1); kept mass .9
    [InlineData(0.5f, new[] { false, true, false, true })]   // threshold .5: removes id0, id2; kept .7
    [InlineData(0.35f, new[] { false, false, false, true })] // threshold .65: keeps id3 alone (.4 >= .35)
    [InlineData(0.01f, new[] { false, false, false, true })] // at least one token
    public void TopP_KeepsSmallestHeadReachingP(float topP, bool[] kept)
    {
        var scores = new[] { 0.1, 0.3, 0.2, 0.4 }.Select(p => (float)Math.Log(p)).ToArray();
        TopPFilter.Apply(scores, topP);
        Assert.Equal(kept, scores.Select(s => !float.IsNegativeInfinity(s)).ToArray());
    }

    [Fact]
    public void TopP_IgnoresTokensAlreadyRemoved()
    {
        float[] scores = [Gone, 0f, 0f, Gone];
        TopPFilter.Apply(scores, 0.5f); // two tokens of 0.5: the first one's cumulative 0.5 <= 0.5 goes
        Assert.Equal([Gone, Gone, 0f, Gone], scores);
    }

    [Theory]
    [InlineData(0.3f, new[] { true, true, false, false })]  // threshold .15
    [InlineData(0.2f, new[] { true, true, true, true })]    // threshold .1
    [InlineData(1.0f, new[] { true, false, false, false })] // only the top
    [InlineData(0f, new[] { true, true, true, true })]      // off
    public void MinP_RemovesTokensBelowFractionOfTop(float minP, bool[] kept)
    {
        var scores = new[] { 0.5, 0.25, 0.125, 0.125 }.Select(p => (float)Math.Log(p)).ToArray();
        MinPFilter.Apply(scores, minP);
        Assert.Equal(kept, scores.Select(s => !float.IsNegativeInfinity(s)).ToArray());
    }

    [Fact]
    public void MinP_One_KeepsAllTiedTopTokens()
    {
        float[] scores = [1f, 1f, 0f];
        MinPFilter.Apply(scores, 1f);
        Assert.Equal([1f, 1f, Gone], scores);
    }

    [Fact]
    public void ArgMax_TiesGoToTheLowestId()
    {
        Assert.Equal(1, TokenSampler.ArgMax([1f, 3f, 3f, 2f]));
    }

    [Fact]
    public void Pipeline_PenaltyComesBeforeTopK()
    {
        // Penalized, token 0 falls from 3 to 1.5 below token 1's 2.5, so top-k 1 keeps token 1. (Penalizing after
        // top-k would always give token 0.)
        var options = new GenerationOptions { RepetitionPenalty = 2f, TopK = 1, TopP = 1f, Temperature = 1f, Seed = 7 };
        var pipeline = new LogitsPipeline(options, decodable: null);
        for (var i = 0; i < 20; i++) Assert.Equal(1, pipeline.Choose(new[] { 3f, 2.5f, 0f }, [0]));
    }

    [Fact]
    public void Pipeline_NeverChoosesUndecodableIds()
    {
        var options = GenerationOptions.Greedy;
        var pipeline = new LogitsPipeline(options, decodable: [true, false, true]);
        Assert.Equal(2, pipeline.Choose(new[] { 0f, 9f, 1f, 10f }, [])); // id 1 is a gap, id 3 beyond the vocabulary
    }

    [Fact]
    public void Pipeline_GreedyIgnoresSamplingWarpers()
    {
        // Temperature/top-k/top-p only matter when sampling; greedy is argmax after the penalty.
        var options = GenerationOptions.Greedy with { TopK = 1, Temperature = 0.1f, RepetitionPenalty = 1.5f };
        var pipeline = new LogitsPipeline(options, decodable: null);
        Assert.Equal(1, pipeline.Choose(new[] { 3f, 2.5f }, [0])); // 3 / 1.5 = 2 < 2.5
    }
}
