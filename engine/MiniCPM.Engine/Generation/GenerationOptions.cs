namespace MiniCPM.Engine.Generation;

/// <summary>
/// Decoding settings. The defaults are MiniCPM-V's <c>chat(sampling=True)</c>: top_p 0.8, top_k 100, temperature 0.7,
/// repetition_penalty 1.05, max_new_tokens 2048; <see cref="MiniCpmBeamSearch"/> is its <c>sampling=False</c> (3 beams,
/// repetition_penalty 1.2). Semantics follow Hugging Face transformers (see each processor's file).
/// </summary>
public sealed record GenerationOptions
{
    public DecodingStrategy Strategy { get; init; } = DecodingStrategy.Sample;

    /// <summary>Most tokens generated (the stop token included).</summary>
    public int MaxNewTokens { get; init; } = 2048;

    /// <summary>Divides the logits before top-k/top-p/min-p (sampling only; 1 = off).</summary>
    public float Temperature { get; init; } = 0.7f;

    /// <summary>Keep the k highest logits, ties at the k-th value included (sampling only; 0 = off).</summary>
    public int TopK { get; init; } = 100;

    /// <summary>Nucleus: keep the smallest set of most likely tokens whose probability reaches p (sampling only; 1 = off).</summary>
    public float TopP { get; init; } = 0.8f;

    /// <summary>Drop tokens less likely than MinP × the top token's probability (sampling only; 0 = off).</summary>
    public float MinP { get; init; }

    /// <summary>Divides positive / multiplies negative logits of tokens this reply already generated (1 = off).
    /// Prompt tokens are not penalized (MiniCPM generates from embeddings, so HF sees only generated ids).</summary>
    public float RepetitionPenalty { get; init; } = 1.05f;

    /// <summary>Beams kept by <see cref="DecodingStrategy.BeamSearch"/> (at least 2).</summary>
    public int NumBeams { get; init; } = 3;

    /// <summary>Finished beam scores are sum(log p) / length^LengthPenalty (HF default 1.0).</summary>
    public float LengthPenalty { get; init; } = 1.0f;

    public BeamEarlyStopping EarlyStopping { get; init; } = BeamEarlyStopping.Heuristic;

    /// <summary>Seed of the sampling RNG (<see cref="SeededRandom"/>); null draws a fresh seed each time.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Ids that end generation. Null: the tokenizer's &lt;|im_end|&gt; and &lt;|endoftext|&gt; (or the model's
    /// eos id without a tokenizer); empty: none.</summary>
    public IReadOnlyList<int>? StopTokenIds { get; init; }

    /// <summary>Texts that end generation when the decoded reply contains them; the reply text is cut before the first
    /// one. Needs a tokenizer.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>MiniCPM's <c>chat(sampling=True)</c> defaults.</summary>
    public static GenerationOptions MiniCpmSampling => new();

    /// <summary>MiniCPM's <c>chat(sampling=False)</c>: beam search with 3 beams and repetition penalty 1.2.</summary>
    public static GenerationOptions MiniCpmBeamSearch =>
        new() { Strategy = DecodingStrategy.BeamSearch, NumBeams = 3, RepetitionPenalty = 1.2f };

    /// <summary>Plain argmax decoding, no penalty (HF <c>generate(do_sample=False)</c> with a default config).</summary>
    public static GenerationOptions Greedy => new() { Strategy = DecodingStrategy.Greedy, RepetitionPenalty = 1f };

    /// <summary>The options MiniCPM's <c>chat(sampling=…)</c> uses.</summary>
    public static GenerationOptions ForMiniCpmChat(bool sampling) => sampling ? MiniCpmSampling : MiniCpmBeamSearch;

    /// <exception cref="ArgumentOutOfRangeException">A setting outside its range.</exception>
    internal void Validate()
    {
        Check(MaxNewTokens >= 1, nameof(MaxNewTokens), MaxNewTokens, "must be at least 1");
        Check(float.IsFinite(RepetitionPenalty) && RepetitionPenalty > 0, nameof(RepetitionPenalty), RepetitionPenalty, "must be positive");
        if (Strategy == DecodingStrategy.Sample)
        {
            Check(float.IsFinite(Temperature) && Temperature > 0, nameof(Temperature), Temperature, "must be positive");
            Check(TopK >= 0, nameof(TopK), TopK, "must be 0 (off) or positive");
            Check(TopP > 0 && TopP <= 1, nameof(TopP), TopP, "must be in (0, 1]");
            Check(MinP >= 0 && MinP <= 1, nameof(MinP), MinP, "must be in [0, 1]");
        }
        if (Strategy == DecodingStrategy.BeamSearch)
        {
            Check(NumBeams >= 2, nameof(NumBeams), NumBeams, "must be at least 2 for beam search");
            Check(float.IsFinite(LengthPenalty), nameof(LengthPenalty), LengthPenalty, "must be finite");
        }
        if (!Enum.IsDefined(Strategy)) throw new ArgumentOutOfRangeException(nameof(Strategy), Strategy, "unknown strategy");
        foreach (var s in StopStrings)
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("Stop strings must not be empty.", nameof(StopStrings));
    }

    private static void Check(bool ok, string name, object value, string rule)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, value, $"{name} {rule}.");
    }
}
