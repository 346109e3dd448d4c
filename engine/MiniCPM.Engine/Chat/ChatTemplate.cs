using System.Text;
using MiniCPM.Engine.Tokenization;

namespace MiniCPM.Engine.Chat;

/// <summary>
/// Qwen's ChatML template, as MiniCPM-V 2.6's tokenizer renders it with <c>apply_chat_template</c>: every message is
/// <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c>; when the first message is not a system message the
/// template first inserts a system message with <see cref="DefaultSystemPrompt"/> (Qwen2-Instruct's "You are a
/// helpful assistant."; null renders none, as MiniCPM-o's TTS template); the generation prompt is
/// <c>&lt;|im_start|&gt;assistant\n</c>.
/// Token ids equal Hugging Face's tokenization of the rendered text (special tokens split the text into the same
/// segments), except that special-token texts inside message contents stay plain text (encoded with
/// <c>allowSpecial: false</c>), so a user cannot forge a turn boundary.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>Qwen2-Instruct's default, which MiniCPM-V 2.6's template injects.</summary>
    public const string Qwen2DefaultSystemPrompt = "You are a helpful assistant.";

    /// <summary>Qwen2.5's default; probably what MiniCPM-o 2.6's own template injects (unverified).</summary>
    public const string Qwen25DefaultSystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

    private readonly Qwen2Tokenizer _tokenizer;
    private readonly int _imStart;
    private readonly int _imEnd;
    private readonly int[] _newline;

    /// <exception cref="ArgumentException">The vocabulary lacks &lt;|im_start|&gt; or &lt;|im_end|&gt;.</exception>
    public ChatTemplate(Qwen2Tokenizer tokenizer, string? defaultSystemPrompt = Qwen2DefaultSystemPrompt)
    {
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _imStart = tokenizer.Specials.ImStart
            ?? throw new ArgumentException("The tokenizer has no <|im_start|> token; ChatML needs it.", nameof(tokenizer));
        _imEnd = tokenizer.Specials.ImEnd
            ?? throw new ArgumentException("The tokenizer has no <|im_end|> token; ChatML needs it.", nameof(tokenizer));
        _newline = tokenizer.Encode("\n", allowSpecial: false);
        DefaultSystemPrompt = defaultSystemPrompt;
    }

    public string? DefaultSystemPrompt { get; }

    public Qwen2Tokenizer Tokenizer => _tokenizer;

    /// <summary>The whole conversation's ids, optionally followed by the generation prompt.</summary>
    public int[] Encode(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var ids = new List<int>();
        if (messages.Count > 0) ids.AddRange(EncodePreamble(messages[0]));
        foreach (var m in messages) ids.AddRange(EncodeMessage(m));
        if (addGenerationPrompt) ids.AddRange(EncodeGenerationPrompt());
        return ids.ToArray();
    }

    /// <summary>The rendered text (what Hugging Face would tokenize).</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var text = new StringBuilder();
        if (messages.Count > 0 && NeedsDefaultSystem(messages[0]))
            text.Append(RenderMessage(ChatMessage.System(DefaultSystemPrompt!)));
        foreach (var m in messages) text.Append(RenderMessage(m));
        if (addGenerationPrompt) text.Append("<|im_start|>assistant\n");
        return text.ToString();
    }

    /// <summary>The injected default system message when <paramref name="first"/> is not a system message; else empty.</summary>
    public int[] EncodePreamble(ChatMessage first) =>
        NeedsDefaultSystem(first) ? EncodeMessage(ChatMessage.System(DefaultSystemPrompt!)) : [];

    /// <summary><c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c>.</summary>
    public int[] EncodeMessage(ChatMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(message.Content);
        // Role header and content are one text segment in HF's tokenization, so encode them together: BPE may
        // merge the "\n" with a content that starts with whitespace.
        return [_imStart, .. _tokenizer.Encode(message.Role.Name() + "\n" + message.Content, allowSpecial: false),
            .. EncodeTurnEnd()];
    }

    /// <summary>
    /// A message whose content mixes plain text (special-token texts not parsed) with media placeholder text (parsed:
    /// <c>&lt;image&gt;</c>, <c>&lt;unk&gt;</c> … become their special ids). Special tokens split Hugging Face's
    /// tokenization into segments, so encoding the pieces one by one gives the ids of the joined text.
    /// </summary>
    public int[] EncodeMessage(ChatRole role, IReadOnlyList<MessagePiece> pieces)
    {
        ArgumentNullException.ThrowIfNull(pieces);
        var ids = new List<int> { _imStart };
        var text = new StringBuilder(role.Name() + "\n");
        foreach (var piece in pieces)
        {
            if (!piece.IsPlaceholder) { text.Append(piece.Text); continue; }
            ids.AddRange(_tokenizer.Encode(text.ToString(), allowSpecial: false));
            text.Clear();
            ids.AddRange(_tokenizer.Encode(piece.Text, allowSpecial: true));
        }
        ids.AddRange(_tokenizer.Encode(text.ToString(), allowSpecial: false));
        ids.AddRange(EncodeTurnEnd());
        return ids.ToArray();
    }

    /// <summary><c>&lt;|im_start|&gt;assistant\n</c>.</summary>
    public int[] EncodeGenerationPrompt() => [_imStart, .. _tokenizer.Encode("assistant\n", allowSpecial: false)];

    /// <summary><c>&lt;|im_end|&gt;\n</c>: closes a turn (after a generated reply too).</summary>
    public int[] EncodeTurnEnd() => [_imEnd, .. _newline];

    private bool NeedsDefaultSystem(ChatMessage first) => DefaultSystemPrompt is not null && first.Role != ChatRole.System;

    private static string RenderMessage(ChatMessage m) => $"<|im_start|>{m.Role.Name()}\n{m.Content}<|im_end|>\n";
}

/// <summary>Part of a message's content: user text, or a media item's placeholder text (its special tokens parsed).</summary>
public readonly record struct MessagePiece(string Text, bool IsPlaceholder);
