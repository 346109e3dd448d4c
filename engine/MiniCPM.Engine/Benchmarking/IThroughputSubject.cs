namespace MiniCPM.Engine.Benchmarking;

/// <summary>
/// Something that runs a prompt and then greedy decode steps over one sequence: this engine's model, or a peer
/// (llama.cpp) wrapped by the caller. <see cref="ThroughputBenchmark"/> times only <see cref="Prefill"/> and
/// <see cref="Decode"/>; starting and ending the sequence are outside the clock.
/// </summary>
public interface IThroughputSubject
{
    /// <summary>A short label for reports ("engine", "llama.cpp").</summary>
    string Name { get; }

    /// <summary>Starts an empty sequence (an empty KV cache).</summary>
    void Begin();

    /// <summary>Appends the whole prompt in one pass and returns the last position's logits.</summary>
    ReadOnlySpan<float> Prefill(ReadOnlySpan<int> prompt);

    /// <summary>Appends one token and returns its logits.</summary>
    ReadOnlySpan<float> Decode(int token);

    /// <summary>Releases the sequence started by <see cref="Begin"/>.</summary>
    void End();
}
