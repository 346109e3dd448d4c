using MiniCPM.Engine.Generation;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>
/// Generation from a model's top-k candidates (<see cref="Models.ILogitCandidateSource"/>) against generation from the
/// whole logits rows: the same tokens for the same seed, over logits with many ties, −∞ rows and values near zero,
/// with and without repetition penalty, top-p, min-p and temperatures that round values together — and with no margin
/// below the K-th logit, where the host's exactness check must send steps back to the whole row.
/// </summary>
public sealed class CandidateSamplingTests
{
    private const int Vocabulary = 600;

    /// <summary>Coarse logits (multiples of 1/8, so ties are everywhere), a few −∞ and ±0, from a hash of the tokens.</summary>
    private static void Logits(IReadOnlyList<int> tokens, Span<float> logits)
    {
        ulong h = 1469598103934665603UL;
        foreach (int t in tokens) h = (h ^ (ulong)t) * 1099511628211UL;
        for (int i = 0; i < logits.Length; i++)
        {
            ulong x = (h ^ (ulong)i * 0x9E3779B97F4A7C15UL) * 0xBF58476D1CE4E5B9UL;
            x ^= x >> 31;
            int bucket = (int)(x % 97);
            logits[i] = bucket switch { 0 => float.NegativeInfinity, 1 => -0f, 2 => 0f, _ => (bucket - 50) / 8f };
        }
    }

    private static FakeLanguageModel Model() => new(Vocabulary, Logits);

    public static TheoryData<string, GenerationOptions> Settings => new()
    {
        { "MiniCPM's chat defaults", new GenerationOptions { MaxNewTokens = 40 } },
        { "temperature 1, top-k 20", new GenerationOptions { MaxNewTokens = 40, Temperature = 1f, TopK = 20, TopP = 1f } },
        { "top-k 1", new GenerationOptions { MaxNewTokens = 30, TopK = 1 } },
        { "top-k 300, top-p 0.95, min-p 0.05, penalty 1.3", new GenerationOptions { MaxNewTokens = 40, TopK = 300, TopP = 0.95f, MinP = 0.05f, RepetitionPenalty = 1.3f } },
        { "temperature 1.7", new GenerationOptions { MaxNewTokens = 40, Temperature = 1.7f, TopK = 40 } },
        { "temperature 1.1", new GenerationOptions { MaxNewTokens = 40, Temperature = 1.1f, TopK = 40 } },
        { "temperature 0.3", new GenerationOptions { MaxNewTokens = 40, Temperature = 0.3f, TopK = 5, TopP = 0.6f } },
        { "greedy with a penalty", new GenerationOptions { MaxNewTokens = 30, Strategy = DecodingStrategy.Greedy, RepetitionPenalty = 1.2f } },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void CandidatesGiveTheTokensOfTheWholeRow(string name, GenerationOptions options)
    {
        foreach (ulong seed in new ulong[] { 1, 2, 3 })
            foreach (int? margin in new int?[] { null, 0 })
            {
                var withSeed = options with { Seed = seed };
                int[] prompt = [5, 9, 2];
                var expected = new Generator(Model()).Generate(prompt, withSeed).Tokens;
                var candidates = new FakeCandidateModel(Model(), margin);
                var actual = new Generator(candidates).Generate(prompt, withSeed).Tokens;
                Assert.True(expected.SequenceEqual(actual), $"{name}, seed {seed}, margin {margin?.ToString() ?? "default"}: {string.Join(",", actual)} vs {string.Join(",", expected)}");
                Assert.Equal(actual.Length - 1, candidates.CandidateSteps); // every step after the prompt's
            }
    }

    [Fact]
    public void WithoutAMarginSomeStepsNeedTheWholeRow()
    {
        // Dividing by 1.1 rounds the float just below a K-th logit of mantissa ≥ 1.1 (here 5.0–5.75) onto the same value
        // as the K-th now and then; with no margin the candidates then cannot show that nothing left out ties with the
        // K-th, and the step reads the row.
        var options = new GenerationOptions { MaxNewTokens = 60, Temperature = 1.1f, TopK = 40, Seed = 9 };
        var noMargin = new FakeCandidateModel(Model(), marginOverride: 0);
        var fallbacks = new Generator(noMargin).Generate([1, 2, 3], options);
        var withMargin = new FakeCandidateModel(Model());
        new Generator(withMargin).Generate([1, 2, 3], options);
        Assert.True(noMargin.RowsFetched > 0, "no step fell back without a margin");
        Assert.True(withMargin.RowsFetched < noMargin.RowsFetched, $"{withMargin.RowsFetched} rows fetched with the margin, {noMargin.RowsFetched} without");
        Assert.Equal(new Generator(Model()).Generate([1, 2, 3], options).Tokens, fallbacks.Tokens);
    }

    [Fact]
    public void TwoRunsSteppedInTurnOnOneModelKeepTheirOwnRows()
    {
        // A step the candidates cannot settle needs its own row; the other run's pass in between must not replace it.
        var options = new GenerationOptions { MaxNewTokens = 40, Temperature = 1.1f, TopK = 40, Seed = 4 };
        int[] promptA = [1, 2, 3], promptB = [7, 8];
        var soloA = new Generator(Model()).Generate(promptA, options).Tokens;
        var soloB = new Generator(Model()).Generate(promptB, options).Tokens;

        var shared = new FakeCandidateModel(Model(), marginOverride: 0);
        var generator = new Generator(shared);
        using var a = generator.Stream(promptA, options).GetEnumerator();
        using var b = generator.Stream(promptB, options).GetEnumerator();
        var tokensA = new List<int>();
        var tokensB = new List<int>();
        bool moreA = true, moreB = true;
        while (moreA || moreB)
        {
            if (moreA && (moreA = a.MoveNext())) tokensA.Add(a.Current.TokenId);
            if (moreB && (moreB = b.MoveNext())) tokensB.Add(b.Current.TokenId);
        }
        Assert.True(shared.RowsFetched > 0, "no step fell back to its row");
        Assert.Equal(soloA, tokensA);
        Assert.Equal(soloB, tokensB);
    }

    [Fact]
    public void SamplingWithoutTopKReadsWholeRows()
    {
        var candidates = new FakeCandidateModel(Model());
        new Generator(candidates).Generate([4, 4], new GenerationOptions { MaxNewTokens = 10, TopK = 0, Seed = 3 });
        Assert.Equal(0, candidates.CandidateSteps);
    }
}
