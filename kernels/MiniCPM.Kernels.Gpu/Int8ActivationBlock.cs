namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// One int8 activation block of 32 (see <see cref="Int8Blocks"/>) as the matrix-vector kernel loads it once for the
/// rows it serves: quants 0..15 in <see cref="Low"/>, 16..31 in <see cref="High"/>, the scale d_x, Σq and Q8_1's
/// s = f16(d·Σq).
/// </summary>
public struct Int8ActivationBlock
{
    public UInt4 Low, High;
    public float Scale;
    public int Sum;
    public float MinTerm;
}
