namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Several independent products of the same shape in one launch of the tiled kernels (the grid's z index is the batch
/// entry): entry z reads weight rows from z · <see cref="WeightRows"/>, activation rows (tokens) from z ·
/// <see cref="Tokens"/>, and writes its outputs from element z · <see cref="Y"/> of the output view. The default
/// (all zero) is a single product. Attention per head as two products (<see cref="AttentionProducts"/>) uses it.
/// </summary>
public struct MatMulBatch
{
    public int WeightRows, Tokens;
    public long Y;
}
