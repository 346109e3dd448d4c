namespace MiniCPM.Engine.Errors;

/// <summary>
/// The KV cache has too few free blocks for a request. Raised before any sequence changes, so every sequence (the
/// requesting ones included) is exactly as it was; a smaller request, or one after freeing sequences, can still run.
/// </summary>
public sealed class KvCacheExhaustedException : MiniCpmException
{
    public int BlocksNeeded { get; }
    public int BlocksFree { get; }
    public int BlocksTotal { get; }

    public KvCacheExhaustedException(int blocksNeeded, int blocksFree, int blocksTotal, int blockSize)
        : base($"KV cache exhausted: the request needs {blocksNeeded} more block(s) of {blockSize} tokens, " +
               $"{blocksFree} of {blocksTotal} are free; free finished sequences or raise the cache capacity")
    {
        BlocksNeeded = blocksNeeded;
        BlocksFree = blocksFree;
        BlocksTotal = blocksTotal;
    }
}
