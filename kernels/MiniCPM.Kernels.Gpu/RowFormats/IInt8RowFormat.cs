namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// A weight format with a 32-value block that multiplies int8 activation blocks (<see cref="Int8Blocks"/>) by integer
/// dot products: the block's contribution is d_x·(what <see cref="BlockDot"/> returns).
/// </summary>
public interface IInt8RowFormat
{
    /// <summary>d_w·Σ w_q·x_q for block <paramref name="block"/> of <paramref name="row"/>; x is the activation block's
    /// quants (values 0..15 in <paramref name="low"/>, 16..31 in <paramref name="high"/>) and Σx_q.</summary>
    float BlockDot(int row, int block, UInt4 low, UInt4 high, int xSum);
}
