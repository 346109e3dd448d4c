namespace MiniCPM.Engine.KvCache;

/// <summary>
/// What one cached token holds: for every layer a key and a value row of <see cref="KvHeads"/> × <see cref="HeadDim"/>
/// float32 values. Tokens are grouped in blocks of <see cref="BlockSize"/>; one block id covers all layers.
/// </summary>
public sealed record KvCacheShape(int Layers, int KvHeads, int HeadDim, int BlockSize = 16)
{
    /// <summary>Floats of one token's key (or value) row in one layer.</summary>
    public int TokenWidth => KvHeads * HeadDim;

    /// <summary>Bytes one block occupies over all layers, keys and values.</summary>
    public long BytesPerBlock => 2L * Layers * BlockSize * TokenWidth * sizeof(float);

    /// <summary>Bytes one token occupies over all layers, keys and values.</summary>
    public long BytesPerToken => 2L * Layers * TokenWidth * sizeof(float);

    internal void Validate()
    {
        if (Layers <= 0) throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "must be positive");
        if (KvHeads <= 0) throw new ArgumentOutOfRangeException(nameof(KvHeads), KvHeads, "must be positive");
        if (HeadDim <= 0) throw new ArgumentOutOfRangeException(nameof(HeadDim), HeadDim, "must be positive");
        if (BlockSize <= 0) throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "must be positive");
    }
}
