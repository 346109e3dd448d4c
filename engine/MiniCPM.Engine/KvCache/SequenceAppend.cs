namespace MiniCPM.Engine.KvCache;

/// <summary>One sequence's share of a batched cache reservation: <see cref="Tokens"/> new positions after its end.</summary>
public readonly record struct SequenceAppend(int Sequence, int Tokens);
