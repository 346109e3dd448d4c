namespace MiniCPM.Engine.Vision;

/// <summary>
/// SigLIP NaViT position ids (MiniCPM-V's SiglipVisionEmbeddings): a slice of h × w patches is mapped onto the
/// side × side learned position table (70 × 70) by bucketizing fractional coordinates, as the reference does on the
/// CPU in float32:
/// <code>
/// boundaries = arange(1/side, 1.0, 1/side)              (side − 1 values, float32, Python-double start/step)
/// frac       = arange(0, 1 − 1e-6, float32(1/n))        (n values; the step is a float32 tensor value)
/// bucket(i)  = #{ boundaries ≤ frac[i] }                 (bucketize right=True) ∈ [0, side)
/// id(r, c)   = bucket_h(r) · side + bucket_w(c)          (patch r·w + c)
/// </code>
/// This is floor(side·i/n) except where a float32 arange value lands just below a boundary: for n = 58, column 29 →
/// bucket 34, not 35 (<see cref="TorchCpuArange"/>). Any n works (the fractions stay in [0, 1)); n &gt; side shares
/// buckets between neighbouring patches.
/// </summary>
public static class NavitPositionIds
{
    /// <summary>The bucket of each of <paramref name="count"/> patch rows (or columns) on a grid of side <paramref name="side"/>.</summary>
    public static int[] Buckets(int count, int side)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(side, 1);
        float[] boundaries = TorchCpuArange.Float32(1.0 / side, 1.0, 1.0 / side);
        float step = 1f / count; // torch: 1 / tgt_size is a float32 tensor, promoted to double as the arange step
        float[] fractions = TorchCpuArange.Float32(0, 1 - 1e-6, step);
        if (fractions.Length != count)
            throw new InvalidOperationException($"arange gave {fractions.Length} fractional coordinates for {count} patches");
        var buckets = new int[count];
        for (int i = 0; i < count; i++)
        {
            int b = 0;
            while (b < boundaries.Length && boundaries[b] <= fractions[i]) b++;
            buckets[i] = b;
        }
        return buckets;
    }

    /// <summary>The table row of every patch of a rows × columns slice, row-major (patch r·columns + c).</summary>
    public static int[] ForGrid(int rows, int columns, int side)
    {
        int[] bucketRows = Buckets(rows, side), bucketColumns = Buckets(columns, side);
        var ids = new int[checked(rows * columns)];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                ids[r * columns + c] = bucketRows[r] * side + bucketColumns[c];
        return ids;
    }
}
