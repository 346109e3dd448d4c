using System.Text;
using LLama.Native;

namespace MiniCPM.LlamaCpp.Tests.LlamaCpp;

/// <summary>
/// Keeps llama.cpp's log instead of letting it flood the test output: the last lines are attached to the error
/// when llama.cpp refuses a file, which is where it says why.
/// </summary>
internal static class LlamaCppLog
{
    private const int KeptCharacters = 16 * 1024;
    private static readonly StringBuilder Text = new();
    private static readonly Lock Gate = new();

    /// <summary>Routes the native log here; must run before the first native call.</summary>
    public static void Install() =>
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            lock (Gate)
            {
                Text.Append(message);
                if (Text.Length > 2 * KeptCharacters) Text.Remove(0, Text.Length - KeptCharacters);
            }
        });

    /// <summary>Forgets what was logged so far, so that <see cref="Tail"/> shows only what follows.</summary>
    public static void Clear()
    {
        lock (Gate) Text.Clear();
    }

    public static string Tail()
    {
        lock (Gate) return Text.Length <= KeptCharacters ? Text.ToString() : Text.ToString(Text.Length - KeptCharacters, KeptCharacters);
    }
}
