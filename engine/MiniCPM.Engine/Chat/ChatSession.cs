using System.Runtime.CompilerServices;
using System.Text;
using MiniCPM.Engine.Generation;
using MiniCPM.Engine.Models;
using MiniCPM.Engine.Multimodal;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Chat;

/// <summary>
/// A conversation with a model, its KV cache kept between turns.
/// <para>The session keeps the conversation as token ids: the template's ids for messages added with
/// <see cref="AddUser"/>/<see cref="AddAssistant"/>, and for a generated reply the ids the model actually produced
/// followed by <c>&lt;|im_end|&gt;\n</c> (Hugging Face's <c>chat()</c> re-tokenizes the reply text instead; ids can
/// differ where BPE has several spellings). A prefix of those ids is in the KV cache; each reply prefills only the
/// ids not cached yet plus the generation prompt.</para>
/// <para>Each reply runs on a fork of the conversation's sequence (copy-on-write, nothing copied up front). The turn is
/// committed when the last token is handed out. If it does not get there — the <see cref="CancellationToken"/> fires,
/// the caller stops enumerating, or the model throws (e.g. its cache is exhausted) — the fork is freed, returning
/// every block the turn took, and the session is exactly as before the call: the user's message stays unanswered and
/// <see cref="StreamReplyAsync"/> may be called again.</para>
/// <para>Not thread-safe; one reply at a time (a second concurrent call throws).</para>
/// </summary>
public sealed class ChatSession : IDisposable
{
    private readonly ILanguageModel _model;
    private readonly Qwen2Tokenizer _tokenizer;
    private readonly ChatSessionOptions _options;
    private readonly ChatTemplate _template;
    private readonly List<ChatMessage> _messages = [];
    private readonly List<int> _tokens = [];     // the conversation so far, without a generation prompt
    private readonly List<EmbeddingRun> _runs = []; // media rows of _tokens, at absolute positions
    private int _images;                          // images so far: the next one's <image_id>
    private SequenceId? _sequence;               // holds _tokens[.._cached]
    private int _cached;
    private int _busy;
    private bool _disposed;

    public ChatSession(ILanguageModel model, Qwen2Tokenizer tokenizer, ChatSessionOptions? options = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _options = options ?? new ChatSessionOptions();
        _template = new ChatTemplate(tokenizer, _options.DefaultSystemPrompt);
        StartConversation();
    }

    public IReadOnlyList<ChatMessage> Messages => _messages;

    /// <summary>The conversation's ids (template included, no generation prompt).</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    /// <summary>How many of <see cref="Tokens"/> are in the KV cache.</summary>
    public int CachedTokens => _cached;

    public ChatTemplate Template => _template;

    public void AddUser(string text) => Add(ChatMessage.User(text));

    /// <summary>
    /// Adds a user message with images and/or audio. Each item goes where its tag <c>(&lt;image&gt;./&lt;/image&gt;)</c>
    /// / <c>(&lt;audio&gt;./&lt;/audio&gt;)</c> stands in <paramref name="text"/>, or, with no tags, before the text
    /// (MiniCPM's content list [image, question]). The session's <see cref="ChatSessionOptions.MediaEncoder"/> encodes
    /// them now; on an error the session is unchanged.
    /// </summary>
    /// <exception cref="MediaPromptException">Tags and media disagree, or the model cannot take media.</exception>
    public void AddUser(string text, params IReadOnlyList<ChatMedia> media)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(media);
        if (media.Count == 0) { AddUser(text); return; }
        ThrowIfBusyOrDisposed();
        var message = ChatMessage.User(text);
        int[] preamble = _messages.Count == 0 ? _template.EncodePreamble(message) : [];
        var built = MediaMessage.Build(_template, ChatRole.User, text, media, _options.MediaEncoder, _images, _model.Config.HiddenSize);
        _tokens.AddRange(preamble);
        int offset = _tokens.Count;
        foreach (var run in built.Runs) _runs.Add(run with { Start = run.Start + offset });
        _tokens.AddRange(built.Tokens);
        _images += built.Images;
        _messages.Add(message);
    }

    /// <summary>Adds an assistant message written by the caller (few-shot examples, a restored conversation).</summary>
    public void AddAssistant(string text)
    {
        if (!_messages.Any(m => m.Role == ChatRole.User))
            throw new InvalidOperationException("The first turn must be the user's (as MiniCPM's chat() requires).");
        Add(ChatMessage.Assistant(text));
    }

    /// <summary>Forgets the conversation (the system prompt stays) and frees its KV blocks.</summary>
    public void Reset()
    {
        ThrowIfBusyOrDisposed();
        FreeSequence();
        _messages.Clear();
        _tokens.Clear();
        _runs.Clear();
        _images = 0;
        StartConversation();
    }

    /// <summary>
    /// Generates the assistant's reply to the conversation, which must end with a user message. Tokens stream as
    /// they are chosen (beam search: after the search); the last carries the finish reason. The reply joins the
    /// conversation when the last token is handed out; see the class remarks for cancellation and errors.
    /// </summary>
    /// <exception cref="InvalidOperationException">No user message waits for a reply, or a reply is running.</exception>
    /// <exception cref="PromptTooLongException">The conversation leaves no room in the context.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the session is unchanged.</exception>
    public async IAsyncEnumerable<GeneratedToken> StreamReplyAsync(GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        ThrowIfBusyOrDisposed();
        if (_messages.Count == 0 || _messages[^1].Role != ChatRole.User)
            throw new InvalidOperationException("Add a user message before asking for a reply.");
        if (Interlocked.Exchange(ref _busy, 1) == 1) throw new InvalidOperationException("A reply is already running.");

        SequenceId? turn = null;
        var committed = false;
        try
        {
            var context = DecodingContext.Create(_model, _tokenizer, options ?? _options.Generation);
            var generationPrompt = _template.EncodeGenerationPrompt();
            int[] prompt = [.. _tokens.Skip(_cached), .. generationPrompt];
            DecodingContext.CheckRoom(_model, _cached, prompt);
            cancellation.ThrowIfCancellationRequested();

            turn = _sequence is { } conversation ? _model.ForkSequence(conversation) : _model.CreateSequence();
            var turnSequence = turn.Value;
            var whole = new MultimodalPrompt([.. _tokens, .. generationPrompt], _runs, _model.Config.HiddenSize);
            var request = whole.Request(turnSequence, _cached, prompt.Length);
            var logits = await Task.Run(() => DecodingContext.Feed(_model, request), cancellation);

            var reply = new List<int>();
            var text = new StringBuilder();
            if (context.Options.Strategy == DecodingStrategy.BeamSearch)
            {
                var result = await Task.Run(() => BeamSearch.Run(_model, turnSequence, logits, context, null, cancellation),
                    cancellation);
                foreach (var token in Replay.Tokens(result, context))
                {
                    reply.Add(token.TokenId);
                    text.Append(token.Text);
                    if (token.IsLast) committed = Commit(turnSequence, generationPrompt, reply, token.Finish!.Value, text.ToString());
                    yield return token;
                }
            }
            else
            {
                var run = new SamplingRun(_model, turnSequence, logits, context, null);
                while (!run.IsFinished)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var token = await Task.Run(run.Step, cancellation);
                    reply.Add(token.TokenId);
                    text.Append(token.Text);
                    if (token.IsLast) committed = Commit(turnSequence, generationPrompt, reply, token.Finish!.Value, text.ToString());
                    yield return token;
                }
            }
        }
        finally
        {
            if (!committed && turn is { } abandoned) _model.FreeSequence(abandoned);
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Adds <paramref name="userText"/>, generates the reply and returns its text.</summary>
    public async Task<string> ReplyAsync(string userText, GenerationOptions? options = null,
        CancellationToken cancellation = default)
    {
        AddUser(userText);
        var text = new StringBuilder();
        await foreach (var token in StreamReplyAsync(options, cancellation)) text.Append(token.Text);
        return text.ToString();
    }

    public void Dispose()
    {
        if (_disposed) return;
        if (Volatile.Read(ref _busy) == 1) throw new InvalidOperationException("A reply is still running.");
        FreeSequence();
        _disposed = true;
    }

    /// <summary>Makes the turn part of the conversation: its sequence replaces the old one, the reply's ids (without a
    /// stop token) and the closing <c>&lt;|im_end|&gt;\n</c> join the tokens (the ids not fed yet stay uncached).</summary>
    private bool Commit(SequenceId turn, int[] generationPrompt, List<int> reply, FinishReason finish, string text)
    {
        var content = finish == FinishReason.StopToken ? reply.Take(reply.Count - 1) : reply;
        _tokens.AddRange(generationPrompt);
        _tokens.AddRange(content);
        _tokens.AddRange(_template.EncodeTurnEnd());
        FreeSequence();
        _sequence = turn;
        _cached = _model.SequenceLength(turn);
        _messages.Add(ChatMessage.Assistant(text));
        return true;
    }

    private void Add(ChatMessage message)
    {
        ThrowIfBusyOrDisposed();
        if (_messages.Count == 0) _tokens.AddRange(_template.EncodePreamble(message));
        _messages.Add(message);
        _tokens.AddRange(_template.EncodeMessage(message));
    }

    private void StartConversation()
    {
        _cached = 0;
        if (_options.SystemPrompt is { } system) Add(ChatMessage.System(system));
    }

    private void FreeSequence()
    {
        if (_sequence is { } s) _model.FreeSequence(s);
        _sequence = null;
        _cached = 0;
    }

    private void ThrowIfBusyOrDisposed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Volatile.Read(ref _busy) == 1) throw new InvalidOperationException("A reply is running.");
    }
}
