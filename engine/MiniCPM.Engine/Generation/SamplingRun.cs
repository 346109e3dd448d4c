using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Generation;

/// <summary>
/// Greedy or sampled decoding of one sequence, one token per <see cref="Step"/>: choose a token from the current
/// logits, check the stop conditions, and unless it is the last token feed it to get the next logits. The last token
/// (a stop token, or the one that hit a limit) is never fed; the sequence then holds the prompt and every other token.
/// </summary>
internal sealed class SamplingRun
{
    private readonly ILanguageModel _model;
    private readonly SequenceId _sequence;
    private readonly DecodingContext _context;
    private readonly LogitsPipeline _pipeline;
    private readonly ReplyText? _text;
    private readonly StepLogitsObserver? _observer;
    private readonly List<int> _tokens = [];
    private float[] _logits;

    /// <param name="promptLogits">Logits at the prompt's last position (the sequence holds the prompt).</param>
    public SamplingRun(ILanguageModel model, SequenceId sequence, float[] promptLogits, DecodingContext context,
        StepLogitsObserver? observer)
    {
        _model = model;
        _sequence = sequence;
        _context = context;
        _logits = promptLogits;
        _observer = observer;
        _pipeline = new LogitsPipeline(context.Options, context.Decodable);
        _text = context.NewReplyText();
    }

    /// <summary>Every id chosen so far, the final stop token included.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    public bool IsFinished { get; private set; }

    public string? Text => _text?.Released;

    public GeneratedToken Step()
    {
        if (IsFinished) throw new InvalidOperationException("Generation has already finished.");
        _observer?.Invoke(_tokens.Count, _logits);
        var id = _pipeline.Choose(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_tokens));
        _tokens.Add(id);

        if (_context.StopTokens.Contains(id)) return Last(id, "", FinishReason.StopToken);

        var text = _text?.Push(id) ?? "";
        if (_text is { Stopped: true }) return Last(id, text, FinishReason.StopString);
        if (_tokens.Count >= _context.Options.MaxNewTokens) return Last(id, text, FinishReason.MaxNewTokens);
        // Feeding this token and emitting another must both fit in the context.
        if (_model.SequenceLength(_sequence) + 2 > _model.MaxSequenceLength) return Last(id, text, FinishReason.ContextFull);

        _logits = DecodingContext.Feed(_model, _sequence, new[] { id }, _logits);
        return new GeneratedToken(id, text);
    }

    private GeneratedToken Last(int id, string text, FinishReason finish)
    {
        IsFinished = true;
        Finish = finish;
        return new GeneratedToken(id, text + (_text?.Finish() ?? ""), finish);
    }

    public FinishReason? Finish { get; private set; }
}
