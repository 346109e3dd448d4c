namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Which two rows a matrix-vector team computes and what it does with their sums (the kernel's epilogue). The kernel
/// computes a row's dot product the same way whichever row it is paired with, so every output sees bit-identical sums:
/// <see cref="RowPairStore"/> pairs neighbouring rows and stores them; <see cref="RopeCacheOutput"/> pairs the two
/// halves of each RoPE pair, rotates them and writes the KV cache.
/// </summary>
public interface IRowPairOutput
{
    /// <summary>The first row of team pair <paramref name="pair"/> (a row of the matrix for every pair &lt; ⌈rows/2⌉).</summary>
    int First(int pair);

    /// <summary>The second row of the pair; may equal the matrix's row count (an odd last row), where the kernel
    /// reads the last row instead and <see cref="Write"/> must skip it.</summary>
    int Second(int pair);

    /// <summary>The pair's sums for <paramref name="token"/>: one thread per pair and token.</summary>
    void Write(int first, int second, int token, float sum0, float sum1);
}
