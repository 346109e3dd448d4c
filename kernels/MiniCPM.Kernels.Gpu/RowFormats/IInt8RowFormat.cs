namespace MiniCPM.Kernels.Gpu.RowFormats;

/// <summary>
/// A weight format with a 32-value block that multiplies int8 activation blocks (<see cref="Int8Blocks"/>) by integer
/// dot products (dp4a); a K-quant's 256-value super-block is eight such blocks.
/// </summary>
public interface IInt8RowFormat
{
    /// <summary>The block's whole contribution to row · x: d_x·d_w·Σ w_q·x_q for block <paramref name="block"/> of
    /// <paramref name="row"/>, with offsets paid through Σx_q and mins through Σx_q or Q8_1's s.</summary>
    float BlockDot(int row, int block, Int8ActivationBlock x);
}
