using MiniCPM.Engine.Generation;

namespace MiniCPM.Engine.Chat;

/// <summary>Settings of a <see cref="ChatSession"/>.</summary>
public sealed record ChatSessionOptions
{
    /// <summary>An explicit system message opening the conversation (MiniCPM's <c>chat(system_prompt=…)</c>);
    /// null lets the template insert its default.</summary>
    public string? SystemPrompt { get; init; }

    /// <summary>The template's default system prompt, used when <see cref="SystemPrompt"/> is null (null: none).
    /// MiniCPM-V 2.6: <see cref="ChatTemplate.Qwen2DefaultSystemPrompt"/>.</summary>
    public string? DefaultSystemPrompt { get; init; } = ChatTemplate.Qwen2DefaultSystemPrompt;

    /// <summary>Used when <see cref="ChatSession.StreamReplyAsync"/> gets no options.</summary>
    public GenerationOptions Generation { get; init; } = GenerationOptions.MiniCpmSampling;

    /// <summary>Encodes images/audio added with <see cref="ChatSession.AddUser(string, IReadOnlyList{Multimodal.ChatMedia})"/>;
    /// null: the session takes text only. <c>MiniCpm.CreateChat</c> sets the model's own.</summary>
    public Multimodal.IMediaEncoder? MediaEncoder { get; init; }
}
