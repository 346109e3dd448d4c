using MiniCPM.Engine.Errors;

namespace MiniCPM.Engine.Generation;

/// <summary>
/// The prompt (with whatever the sequence already holds) leaves no room for a reply in the model's context.
/// Thrown before the model is called, so no sequence is changed.
/// </summary>
public sealed class PromptTooLongException : MiniCpmException
{
    public PromptTooLongException(int promptTokens, int maxSequenceLength)
        : base($"The prompt needs {promptTokens} tokens but the context holds {maxSequenceLength}; " +
               "at least one position must stay free for the reply.")
    {
        PromptTokens = promptTokens;
        MaxSequenceLength = maxSequenceLength;
    }

    public int PromptTokens { get; }
    public int MaxSequenceLength { get; }
}
