namespace MiniCPM.Engine.Golden;

/// <summary>
/// Computes the outputs of one golden case type (manifest "case"). Adding a case type (vision, resampler,
/// multimodal, audio) is adding one implementation to <see cref="GoldenRunner"/>'s list; comparison is shared.
/// </summary>
public interface IGoldenCaseRunner
{
    /// <summary>The manifest "case" value this runner handles.</summary>
    string CaseType { get; }

    /// <summary>Runs the case's inputs through the engine and records every tensor it can compute.</summary>
    void Run(GoldenCase goldenCase, GoldenOutputs outputs);
}
