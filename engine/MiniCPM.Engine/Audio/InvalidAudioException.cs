using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.Audio;

/// <summary>
/// Audio input the engine cannot use: not a WAV file, a truncated or malformed one, an unsupported sample encoding,
/// no samples, an absurd sample rate or channel count, or more audio than the reader's size limit.
/// </summary>
public sealed class InvalidAudioException : MiniCpmException
{
    /// <summary>Where the audio came from (a path, or a description such as "stream").</summary>
    public string AudioSource { get; }

    public InvalidAudioException(string source, string problem, Exception? inner = null)
        : base($"{source}: {problem}", inner)
    {
        AudioSource = source;
    }
}
