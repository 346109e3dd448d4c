namespace MiniCPM.Engine.Chat;

/// <summary>One turn of a conversation. The content is plain text: special-token texts in it are not parsed.</summary>
public sealed record ChatMessage(ChatRole Role, string Content)
{
    public static ChatMessage System(string content) => new(ChatRole.System, content);
    public static ChatMessage User(string content) => new(ChatRole.User, content);
    public static ChatMessage Assistant(string content) => new(ChatRole.Assistant, content);
}
