namespace MiniCPM.Engine.Generation;

/// <summary>When beam search stops once it has <c>NumBeams</c> finished hypotheses (HF's <c>early_stopping</c>).</summary>
public enum BeamEarlyStopping
{
    /// <summary>HF <c>False</c> (the default, and what MiniCPM's <c>chat()</c> uses): stop when the best live candidate,
    /// scored at the current length, cannot beat the worst finished hypothesis.</summary>
    Heuristic,

    /// <summary>HF <c>True</c>: stop as soon as NumBeams hypotheses are finished.</summary>
    Immediate,

    /// <summary>HF <c>"never"</c>: stop only when no better hypothesis is possible (bound at max length).</summary>
    Never,
}
