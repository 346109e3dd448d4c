using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.Multimodal;

/// <summary>A prompt's media placeholders and the media given with it do not fit together (more images than
/// placeholders or the reverse, a run of the wrong length, markers out of order).</summary>
public sealed class MediaPromptException(string problem) : MiniCpmException($"Media prompt: {problem}.");
