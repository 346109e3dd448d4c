namespace MiniCPM.Engine.Errors;

/// <summary>A sequence would grow past the longest sequence the model (and its cache) can hold. Nothing was changed.</summary>
public sealed class ContextOverflowException : MiniCpmException
{
    public int CurrentLength { get; }
    public int AppendedTokens { get; }
    public int MaxSequenceLength { get; }

    public ContextOverflowException(int currentLength, int appendedTokens, int maxSequenceLength)
        : base($"context overflow: a sequence of {currentLength} token(s) cannot take {appendedTokens} more; " +
               $"the limit is {maxSequenceLength} tokens")
    {
        CurrentLength = currentLength;
        AppendedTokens = appendedTokens;
        MaxSequenceLength = maxSequenceLength;
    }
}
