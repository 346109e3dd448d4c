namespace MiniCPM.Engine.Errors;

/// <summary>A sequence id that was never created in this cache, or was already freed.</summary>
public sealed class UnknownSequenceException : MiniCpmException
{
    public int SequenceId { get; }

    public UnknownSequenceException(int sequenceId)
        : base($"sequence {sequenceId} does not exist in the KV cache (never created, or already freed)")
    {
        SequenceId = sequenceId;
    }
}
