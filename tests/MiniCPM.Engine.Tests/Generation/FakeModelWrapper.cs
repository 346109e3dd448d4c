using MiniCPM.Engine.Configuration;
using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Tests.Generation;

/// <summary>A <see cref="FakeLanguageModel"/> passed through as <see cref="ILanguageModel"/>, for the fakes that add a
/// device-side capability on top of it (<see cref="FakeCandidateModel"/>, <see cref="FakeDeviceGreedyModel"/>).</summary>
internal abstract class FakeModelWrapper(FakeLanguageModel inner) : ILanguageModel
{
    public FakeLanguageModel Inner => inner;

    public LlmConfig Config => inner.Config;
    public int VocabularySize => inner.VocabularySize;
    public int MaxSequenceLength => inner.MaxSequenceLength;
    public SequenceId CreateSequence() => inner.CreateSequence();
    public SequenceId ForkSequence(SequenceId source) => inner.ForkSequence(source);
    public void FreeSequence(SequenceId sequence) => inner.FreeSequence(sequence);
    public int SequenceLength(SequenceId sequence) => inner.SequenceLength(sequence);
    public void Forward(IReadOnlyList<ForwardRequest> requests) => inner.Forward(requests);
    public void Dispose() => inner.Dispose();
}
