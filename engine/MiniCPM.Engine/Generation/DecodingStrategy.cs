namespace MiniCPM.Engine.Generation;

/// <summary>How the next token is chosen from the logits.</summary>
public enum DecodingStrategy
{
    /// <summary>Argmax after the repetition penalty (Hugging Face <c>do_sample=False, num_beams=1</c>).</summary>
    Greedy,

    /// <summary>Repetition penalty, temperature, top-k, top-p, min-p, then a seeded draw (HF <c>do_sample=True</c>).</summary>
    Sample,

    /// <summary>Beam search over log-probabilities (HF <c>do_sample=False, num_beams&gt;1</c>).</summary>
    BeamSearch,
}
