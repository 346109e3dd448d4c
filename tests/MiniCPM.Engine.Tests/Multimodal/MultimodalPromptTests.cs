using MiniCPM.Engine.Models;
using MiniCPM.Engine.Multimodal;

namespace MiniCPM.Engine.Tests.Multimodal;

public sealed class MultimodalPromptTests
{
    private static float[] Rows(int rows, int hidden, float first) =>
        Enumerable.Range(0, rows * hidden).Select(i => first + i).ToArray();

    [Fact]
    public void ARequestCarriesExactlyTheRowsOfTheRunsItOverlaps()
    {
        // tokens 0..9, hidden 2; runs at [2,4) and [6,9)
        var prompt = new MultimodalPrompt(Enumerable.Range(100, 10).ToArray(),
            [new EmbeddingRun(6, 3, Rows(3, 2, 600)), new EmbeddingRun(2, 2, Rows(2, 2, 200))], hidden: 2);

        var request = prompt.Request(new SequenceId(1), start: 3, count: 4); // tokens 3..6
        Assert.Equal([103, 104, 105, 106], request.Tokens.ToArray());
        Assert.Equal([true, false, false, true], request.EmbeddingMask!.Value.ToArray());
        float[] embeddings = request.Embeddings!.Value.ToArray();
        Assert.Equal([202f, 203f], embeddings[0..2]);   // second row of the first run
        Assert.Equal([600f, 601f], embeddings[6..8]);   // first row of the second run
        Assert.All(embeddings[2..6], v => Assert.Equal(0f, v));

        var plain = prompt.Request(new SequenceId(1), start: 4, count: 2);
        Assert.Null(plain.Embeddings);
        Assert.Null(plain.EmbeddingMask);
    }

    [Fact]
    public void OverlappingOrMisSizedRunsAreRefused()
    {
        int[] tokens = new int[8];
        Assert.Throws<ArgumentException>(() => new MultimodalPrompt(tokens,
            [new EmbeddingRun(1, 3, Rows(3, 2, 0)), new EmbeddingRun(3, 1, Rows(1, 2, 0))], 2));
        Assert.Throws<ArgumentException>(() => new MultimodalPrompt(tokens, [new EmbeddingRun(6, 3, Rows(3, 2, 0))], 2));
        Assert.Throws<ArgumentException>(() => new MultimodalPrompt(tokens, [new EmbeddingRun(0, 2, Rows(3, 2, 0))], 2));
    }

    [Fact]
    public void PlaceholderRunsFollowMiniCpmsImageBound()
    {
        // <image>=1 </image>=2 <slice>=3 </slice>=4 ; runs start after the opener and end at the closer.
        int[] tokens = [9, 1, 0, 0, 2, 3, 0, 4, 7, 3, 0, 0, 0, 4];
        var runs = PlaceholderRuns.Find(tokens, [(1, 2), (3, 4)]);
        Assert.Equal([(2, 4), (6, 7), (10, 13)], runs);
    }

    [Theory]
    [InlineData(new[] { 1, 0, 0 })]        // never closed
    [InlineData(new[] { 0, 2 })]           // closed without opening
    [InlineData(new[] { 1, 0, 3, 0, 2 })]  // a <slice> inside an <image> run
    public void BrokenMarkersAreATypedError(int[] tokens) =>
        Assert.Throws<MediaPromptException>(() => PlaceholderRuns.Find(tokens, [(1, 2), (3, 4)]));
}
