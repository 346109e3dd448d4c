using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Benchmarking;

/// <summary>An <see cref="ILanguageModel"/> as a benchmark subject: one sequence, last-position logits only.</summary>
public sealed class LanguageModelSubject(ILanguageModel model, string name = "engine") : IThroughputSubject
{
    // One request object reused for every step, so the timed loop allocates nothing once the logits buffer exists.
    private readonly ForwardRequest[] _batch = new ForwardRequest[1];
    private readonly int[] _token = new int[1];
    private SequenceId? _sequence;
    private float[]? _logits;

    public string Name => name;

    public void Begin()
    {
        if (_sequence is not null) throw new InvalidOperationException("End the current sequence before beginning another");
        _sequence = model.CreateSequence();
    }

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> prompt) => Run(prompt.ToArray());

    public ReadOnlySpan<float> Decode(int token)
    {
        _token[0] = token;
        return Run(_token);
    }

    private ReadOnlySpan<float> Run(ReadOnlyMemory<int> tokens)
    {
        var sequence = _sequence ?? throw new InvalidOperationException("Begin a sequence first");
        _batch[0] = new ForwardRequest { Sequence = sequence, Tokens = tokens, Logits = _logits };
        model.Forward(_batch);
        _logits = _batch[0].Logits!;
        return _logits.AsSpan(0, model.VocabularySize);
    }

    public void End()
    {
        if (_sequence is { } sequence) model.FreeSequence(sequence);
        _sequence = null;
    }
}
