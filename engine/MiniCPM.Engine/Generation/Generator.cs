using MiniCPM.Engine.Models;
using MiniCPM.Engine.Multimodal;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Generation;

/// <summary>
/// One-shot generation from prompt ids (CLI, golden cases, benchmarks): each call runs on a fresh sequence that is
/// freed when the call (or the enumeration) ends. For conversations that keep their cache use <c>ChatSession</c>.
/// </summary>
public sealed class Generator
{
    private readonly ILanguageModel _model;
    private readonly Qwen2Tokenizer? _tokenizer;

    /// <param name="tokenizer">Optional: gives text, stop strings, the default stop tokens and masks ids it cannot
    /// decode. Without it, ids are returned as chosen and the default stop token is the model's eos id.</param>
    public Generator(ILanguageModel model, Qwen2Tokenizer? tokenizer = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _tokenizer = tokenizer;
    }

    /// <summary>Generates a reply to <paramref name="prompt"/>.</summary>
    /// <exception cref="ArgumentException">Empty prompt, an id outside the vocabulary, or invalid options.</exception>
    /// <exception cref="PromptTooLongException">The prompt leaves no room in the context.</exception>
    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions? options = null,
        StepLogitsObserver? observeLogits = null, CancellationToken cancellation = default) =>
        Generate(MultimodalPrompt.TextOnly(prompt ?? throw new ArgumentNullException(nameof(prompt))), options, observeLogits, cancellation);

    /// <summary>Generates a reply to a prompt whose placeholder runs carry image or audio embeddings.</summary>
    public GenerationResult Generate(MultimodalPrompt prompt, GenerationOptions? options = null,
        StepLogitsObserver? observeLogits = null, CancellationToken cancellation = default)
    {
        var tokens = new List<int>();
        var text = _tokenizer is null ? null : new System.Text.StringBuilder();
        FinishReason finish = default;
        foreach (var token in Stream(prompt, options, observeLogits, cancellation))
        {
            tokens.Add(token.TokenId);
            text?.Append(token.Text);
            if (token.Finish is { } f) finish = f;
        }
        return new GenerationResult(tokens.ToArray(), text?.ToString(), finish);
    }

    /// <summary>Generates lazily, one token per item; the last item carries the finish reason. Beam search yields its
    /// best hypothesis after the search ends.</summary>
    public IEnumerable<GeneratedToken> Stream(IReadOnlyList<int> prompt, GenerationOptions? options = null,
        StepLogitsObserver? observeLogits = null, CancellationToken cancellation = default) =>
        Stream(MultimodalPrompt.TextOnly(prompt ?? throw new ArgumentNullException(nameof(prompt))), options, observeLogits, cancellation);

    /// <summary>Streams a reply to a prompt whose placeholder runs carry image or audio embeddings.</summary>
    public IEnumerable<GeneratedToken> Stream(MultimodalPrompt prompt, GenerationOptions? options = null,
        StepLogitsObserver? observeLogits = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Tokens.Count == 0) throw new ArgumentException("The prompt is empty.", nameof(prompt));
        if (prompt.Runs.Count > 0 && prompt.Hidden != _model.Config.HiddenSize)
            throw new ArgumentException($"The prompt's embedding rows are {prompt.Hidden} wide; the model's hidden size is {_model.Config.HiddenSize}.", nameof(prompt));
        var context = DecodingContext.Create(_model, _tokenizer, options ?? GenerationOptions.MiniCpmSampling);
        DecodingContext.CheckRoom(_model, 0, prompt.Tokens.ToArray());
        return Run(prompt, context, observeLogits, cancellation);
    }

    private IEnumerable<GeneratedToken> Run(MultimodalPrompt prompt, DecodingContext context, StepLogitsObserver? observer,
        CancellationToken cancellation)
    {
        var sequence = _model.CreateSequence();
        try
        {
            var logits = DecodingContext.Feed(_model, prompt.Request(sequence, 0, prompt.Tokens.Count));
            var tokens = context.Options.Strategy == DecodingStrategy.BeamSearch
                ? Replay.Tokens(BeamSearch.Run(_model, sequence, logits, context, observer, cancellation), context)
                : Sample(new SamplingRun(_model, sequence, logits, context, observer), cancellation);
            foreach (var token in tokens) yield return token;
        }
        finally
        {
            _model.FreeSequence(sequence);
        }
    }

    private static IEnumerable<GeneratedToken> Sample(SamplingRun run, CancellationToken cancellation)
    {
        while (!run.IsFinished)
        {
            cancellation.ThrowIfCancellationRequested();
            yield return run.Step();
        }
    }
}
