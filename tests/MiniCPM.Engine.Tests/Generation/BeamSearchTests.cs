using MiniCPM.Engine.Models;
using MiniCPM.Engine.Generation;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>Beam search on small designed models, checked against a brute-force search of the same objective
/// (Hugging Face's: sum of log-softmax, finished hypotheses divided by their length including the stop token).</summary>
public sealed class BeamSearchTests
{
    private const int Vocabulary = 10;
    private const int Eos = 9;
    private static readonly int[] Prompt = [0];

    /// <summary>Logits = log of a designed distribution of the tokens generated after the prompt.</summary>
    private static FakeLanguageModel ModelOf(Func<int[], double[]> distribution, int blockSize = 4) =>
        new(Vocabulary, (tokens, logits) =>
        {
            var p = distribution(tokens.Skip(Prompt.Length).ToArray());
            for (var v = 0; v < Vocabulary; v++) logits[v] = (float)Math.Log(p[v]);
        }, blockSize: blockSize);

    /// <summary>A distribution with the given probabilities and the rest spread evenly over the other tokens.</summary>
    private static double[] Peaks(params (int Token, double P)[] peaks)
    {
        var rest = (1 - peaks.Sum(x => x.P)) / (Vocabulary - peaks.Length);
        var p = Enumerable.Repeat(rest, Vocabulary).ToArray();
        foreach (var (token, prob) in peaks) p[token] = prob;
        return p;
    }

    /// <summary>A fixed pseudo-random distribution per prefix (so deeper steps are not trivial).</summary>
    private static double[] Scrambled(int[] generated)
    {
        var h = generated.Aggregate(17u, (a, t) => a * 31 + (uint)t + 1);
        var w = Enumerable.Range(0, Vocabulary).Select(v => Math.Exp(((h * (uint)(v + 1) * 2654435761u) >> 22) % 1000 / 250.0)).ToArray();
        var sum = w.Sum();
        return w.Select(x => x / sum).ToArray();
    }

    /// <summary>First step favours 1 (greedy), but 2 leads to a far likelier continuation.</summary>
    private static double[] GreedyTrap(int[] g) => g switch
    {
        [] => Peaks((1, 0.45), (2, 0.35), (3, 0.15)),
        [1] => Peaks((4, 0.2)),
        [2] => Peaks((5, 0.9)),
        [3] => Peaks((6, 0.5)),
        _ => Scrambled(g),
    };

    [Fact]
    public void FindsTheBestSequence_WhichGreedyMisses()
    {
        using var model = ModelOf(GreedyTrap);
        var generator = new Generator(model);

        var beam = generator.Generate(Prompt, GenerationOptions.MiniCpmBeamSearch with { StopTokenIds = [], MaxNewTokens = 3, RepetitionPenalty = 1f });
        var greedy = generator.Generate(Prompt, GenerationOptions.Greedy with { StopTokenIds = [], MaxNewTokens = 3 });
        var best = BruteForce(model, maxLength: 3, stopToken: null);

        Assert.Equal(best, beam.Tokens);
        Assert.Equal([2, 5], beam.Tokens[..2]);
        Assert.Equal([1, 4], greedy.Tokens[..2]);
        Assert.Equal(FinishReason.MaxNewTokens, beam.Finish);
    }

    [Fact]
    public void FinishedHypotheses_AreLengthNormalized()
    {
        // Step 1: EOS .4, 1 .35, 2 .2. After [1]: EOS .9. After [2]: 3 .95, after [2,3]: EOS .95.
        // Scores: [EOS] ln.4/1 = -0.916; [1,EOS] (ln.35+ln.9)/2 = -0.578; [2,3,EOS] (ln.2+2 ln.95)/3 = -0.571 (best).
        // Greedy stops at once with EOS; unnormalized sums would prefer [EOS].
        using var model = ModelOf(g => g switch
        {
            [] => Peaks((Eos, 0.4), (1, 0.35), (2, 0.2)),
            [1] => Peaks((Eos, 0.9)),
            [2] => Peaks((3, 0.95)),
            [2, 3] => Peaks((Eos, 0.95)),
            _ => Peaks(),
        });
        var generator = new Generator(model);
        var options = new GenerationOptions
        {
            Strategy = DecodingStrategy.BeamSearch, NumBeams = 2, RepetitionPenalty = 1f, StopTokenIds = [Eos], MaxNewTokens = 5,
        };

        var beam = generator.Generate(Prompt, options);

        Assert.Equal([2, 3, Eos], beam.Tokens);
        Assert.Equal(FinishReason.StopToken, beam.Finish);
        Assert.Equal(BruteForce(model, maxLength: 5, stopToken: Eos), beam.Tokens);
        Assert.Equal([Eos], generator.Generate(Prompt, GenerationOptions.Greedy with { StopTokenIds = [Eos] }).Tokens);
    }

    [Fact]
    public void RepetitionPenalty_MultipliesLogProbabilitiesOfTheBeamsOwnTokens()
    {
        // Uniform model: every path is equally likely until the penalty makes a repeated token's log-prob 1.2× more
        // negative, so the best 3-token path repeats no token.
        using var model = ModelOf(_ => Peaks());
        var options = GenerationOptions.MiniCpmBeamSearch with { StopTokenIds = [], MaxNewTokens = 3 };
        var result = new Generator(model).Generate(Prompt, options);
        Assert.Equal(3, result.Tokens.Distinct().Count());
    }

    [Fact]
    public void Beams_ShareThePromptsBlocks_AndEverythingIsFreed()
    {
        using var model = ModelOf(GreedyTrap, blockSize: 4);
        var prompt = Enumerable.Range(0, 40).Select(i => i % Vocabulary).ToArray(); // 10 blocks
        var options = GenerationOptions.MiniCpmBeamSearch with { StopTokenIds = [], MaxNewTokens = 8 };

        new Generator(model).Generate(prompt, options);

        Assert.True(model.Forks > 0);
        Assert.InRange(model.PeakUsedBlocks, 10, 19); // prompt shared; 3 copies would need 30 and more
        Assert.Equal(0, model.UsedBlocks);
        Assert.Equal(0, model.LiveSequences);
    }

    [Fact]
    public void Cancelled_BeamSearch_FreesEverything()
    {
        using var model = ModelOf(GreedyTrap);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new Generator(model).Generate(Prompt, GenerationOptions.MiniCpmBeamSearch, cancellation: cancel.Token));
        Assert.Equal(0, model.UsedBlocks);
        Assert.Equal(0, model.LiveSequences);
    }

    /// <summary>Exhaustive search: the sequence with the best normalized score among all that end with the stop token
    /// within <paramref name="maxLength"/> tokens and all unfinished ones of exactly that length.</summary>
    private static int[] BruteForce(FakeLanguageModel model, int maxLength, int? stopToken)
    {
        var best = (Score: double.NegativeInfinity, Tokens: Array.Empty<int>());
        void Visit(List<int> tokens, double sum)
        {
            var logits = new float[Vocabulary];
            var sequence = model.CreateSequence();
            model.Forward([new ForwardRequest { Sequence = sequence, Tokens = Prompt.Concat(tokens).ToArray(), Logits = logits }]);
            model.FreeSequence(sequence);
            var max = logits.Max();
            var log = max + Math.Log(logits.Sum(x => Math.Exp(x - max)));
            for (var v = 0; v < Vocabulary; v++)
            {
                var total = sum + logits[v] - log;
                var length = tokens.Count + 1;
                tokens.Add(v);
                if (v == stopToken || length == maxLength)
                {
                    if (total / length > best.Score) best = (total / length, tokens.ToArray());
                }
                else
                {
                    Visit(tokens, total);
                }
                tokens.RemoveAt(tokens.Count - 1);
            }
        }
        Visit([], 0);
        return best.Tokens;
    }
}
