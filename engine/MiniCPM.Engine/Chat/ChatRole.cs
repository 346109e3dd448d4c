namespace MiniCPM.Engine.Chat;

/// <summary>Who wrote a chat message; rendered lower-case in the ChatML header (<c>&lt;|im_start|&gt;user</c>).</summary>
public enum ChatRole
{
    System,
    User,
    Assistant,
}

internal static class ChatRoleNames
{
    public static string Name(this ChatRole role) => role switch
    {
        ChatRole.System => "system",
        ChatRole.User => "user",
        ChatRole.Assistant => "assistant",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "unknown chat role"),
    };
}
