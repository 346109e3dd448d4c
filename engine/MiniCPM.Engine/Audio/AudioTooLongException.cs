using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.Audio;

/// <summary>The audio's placeholder tokens (audio markers included) do not fit the context the caller allows.</summary>
public sealed class AudioTooLongException : MiniCpmException
{
    public AudioTooLongException(double seconds, int tokensNeeded, int tokensAvailable)
        : base($"{seconds:0.###} s of audio needs {tokensNeeded} prompt tokens (audio markers included), " +
               $"but only {tokensAvailable} fit in the context; shorten the audio or raise the context")
    {
        Seconds = seconds;
        TokensNeeded = tokensNeeded;
        TokensAvailable = tokensAvailable;
    }

    public double Seconds { get; }
    public int TokensNeeded { get; }
    public int TokensAvailable { get; }
}
