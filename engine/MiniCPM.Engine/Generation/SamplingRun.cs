using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using MiniCPM.Engine.Models;

namespace MiniCPM.Engine.Generation;

/// <summary>
/// Greedy or sampled decoding of one sequence, one token per <see cref="Step"/>: choose a token from the current
/// logits, check the stop conditions, and unless it is the last token feed it to get the next logits. The last token
/// (a stop token, or the one that hit a limit) is never fed; the sequence then holds the prompt and every other token.
/// <para>Greedy decoding on a model that decodes greedily on its own device (<see cref="IDeviceGreedyDecoder"/>),
/// when nothing needs the logits on the host (no repetition penalty, no logits observer), hands every token after the
/// first to the model instead: it runs a window of steps, the same stop checks decide where the reply ends, and the
/// window's tokens come out of <see cref="Step"/> one at a time — the same tokens, finish and sequence as feeding them
/// one by one.</para>
/// <para>On a model that hands out a step's top-k candidates (<see cref="ILogitCandidateSource"/>), when top-k (or
/// greedy choice) settles the step and nothing needs the logits on the host, each step feeds for candidates and
/// chooses from them; a step they cannot settle exactly fetches its whole row. Same choices, same random draws.</para>
/// </summary>
internal sealed class SamplingRun
{
    private readonly ILanguageModel _model;
    private readonly SequenceId _sequence;
    private readonly DecodingContext _context;
    private readonly LogitsPipeline _pipeline;
    private readonly ReplyText? _text;
    private readonly StepLogitsObserver? _observer;
    private readonly IDeviceGreedyDecoder? _device;
    private readonly ILogitCandidateSource? _candidateSource;
    /// <summary>Candidate path: the next id, chosen from its step's candidates as soon as they came (else
    /// <see cref="_logits"/> holds that step's whole row, fetched at once: the model keeps it only until its next pass,
    /// which another sequence may run before this run's next step).</summary>
    private int? _nextId;
    private readonly List<int> _tokens = [];
    private float[] _logits;
    /// <summary>Device path: the last chosen id, which the next window feeds.</summary>
    private int? _unfed;
    /// <summary>Device path: tokens a window decided on, not yet returned by <see cref="Step"/>.</summary>
    private readonly Queue<GeneratedToken> _ready = new();
    /// <summary>Device path: a window's failure after its first tokens, raised once those are out.</summary>
    private ExceptionDispatchInfo? _error;
    /// <summary>The last token is chosen (it may still wait in <see cref="_ready"/>).</summary>
    private bool _decided;

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
        if (model is IDeviceGreedyDecoder device && context.Options.Strategy == DecodingStrategy.Greedy
            && context.Options.RepetitionPenalty == 1f && observer is null)
            _device = device;
        else if (model is ILogitCandidateSource { } source && observer is null && _pipeline.CandidateRank is { } k && k <= source.MaxCandidateRank)
            _candidateSource = source;
    }

    /// <summary>Every id chosen so far (on the device path also those still waiting to be returned), the final stop
    /// token included.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    public bool IsFinished => _decided && _ready.Count == 0 && _error is null;

    public string? Text => _text?.Released;

    public GeneratedToken Step()
    {
        if (IsFinished) throw new InvalidOperationException("Generation has already finished.");
        if (_ready.TryDequeue(out var ready))
        {
            // Its id is fed before it is returned, as below.
            if (_ready.Count == 0 && _unfed is { } token) DecodeOnDevice(token);
            return ready;
        }
        if (_error is { } error)
        {
            _error = null;
            _decided = true;
            error.Throw();
        }

        _observer?.Invoke(_tokens.Count, _logits);
        var id = ChooseNext();
        var chosen = Decide(id, _model.SequenceLength(_sequence));
        if (_decided) return chosen;
        if (_device is not null) DecodeOnDevice(id);
        else if (_candidateSource is not null) FeedForCandidates(id);
        else _logits = DecodingContext.Feed(_model, _sequence, new[] { id }, _logits);
        return chosen;
    }

    /// <summary>The next id: chosen already from its step's candidates, or from the whole row.</summary>
    private int ChooseNext()
    {
        if (_nextId is { } id)
        {
            _nextId = null;
            return id;
        }
        return _pipeline.Choose(_logits, CollectionsMarshal.AsSpan(_tokens));
    }

    /// <summary>Feeds <paramref name="id"/> for the step's candidates and chooses the next id from them right away (its
    /// random draw is the next one either way); a step they cannot settle fetches its row now.</summary>
    private void FeedForCandidates(int id)
    {
        var query = new LogitCandidateQuery(_pipeline.CandidateRank!.Value, _context.AllowedIds,
            _context.Options.RepetitionPenalty == 1f ? [] : _tokens);
        var candidates = _candidateSource!.FeedForCandidates(_sequence, id, query);
        _nextId = _pipeline.ChooseFromCandidates(candidates);
        if (_nextId is null) _logits = _candidateSource.LastLogits();
    }

    /// <summary>Takes <paramref name="id"/> and checks the stop conditions; <paramref name="cached"/> is what the
    /// sequence holds when the id is chosen.</summary>
    private GeneratedToken Decide(int id, int cached)
    {
        _tokens.Add(id);
        if (_context.StopTokens.Contains(id)) return Last(id, "", FinishReason.StopToken);

        var text = _text?.Push(id) ?? "";
        if (_text is { Stopped: true }) return Last(id, text, FinishReason.StopString);
        if (_tokens.Count >= _context.Options.MaxNewTokens) return Last(id, text, FinishReason.MaxNewTokens);
        // Feeding this token and emitting another must both fit in the context.
        if (cached + 2 > _model.MaxSequenceLength) return Last(id, text, FinishReason.ContextFull);
        return new GeneratedToken(id, text);
    }

    /// <summary>
    /// One device window: feeds <paramref name="token"/>, then decides on each id the model chose in turn, as
    /// <see cref="Step"/> would have after feeding the one before (the sequence then held one more token per id); the
    /// decided tokens wait in <see cref="_ready"/>. A failure to feed <paramref name="token"/> itself is thrown at once,
    /// as feeding it here would; a later one once the tokens before it are out.
    /// </summary>
    private void DecodeOnDevice(int token)
    {
        _unfed = null;
        int cached = _model.SequenceLength(_sequence);
        int handed = 0, queued = 0;
        try
        {
            _device!.DecodeGreedy(_sequence, token, _context.AllowedIds, _context.Options.MaxNewTokens - _tokens.Count, id =>
            {
                handed++;
                _ready.Enqueue(Decide(id, cached + handed));
                queued++; // not if Decide threw: one by one, that id's step failed before returning it
                return !_decided;
            });
        }
        catch (Exception e)
        {
            // The sequence says how far feeding got: token and every handed id (the next choice failed), all but the
            // last handed id (feeding that one failed: one by one it was chosen and never returned), or nothing.
            int fed = _model.SequenceLength(_sequence) - cached;
            if (fed == 0) throw;
            if (fed == queued) DropLast();
            _error = ExceptionDispatchInfo.Capture(e);
            return;
        }
        if (!_decided) _unfed = _tokens[^1];
    }

    private void DropLast()
    {
        var kept = _ready.ToArray()[..^1];
        _ready.Clear();
        foreach (var t in kept) _ready.Enqueue(t);
    }

    private GeneratedToken Last(int id, string text, FinishReason finish)
    {
        _decided = true;
        Finish = finish;
        return new GeneratedToken(id, text + (_text?.Finish() ?? ""), finish);
    }

    public FinishReason? Finish { get; private set; }
}
