namespace MiniCPM.Kernels.Formats.Int4;

/// <summary>
/// Reference dequantization of the Hugging Face int4 layouts to float32, element by element, written to be read
/// against the formulas rather than to be fast; the fused kernels are tested against it.
/// </summary>
public static unsafe class Int4Dequantizer
{
    /// <summary>
    /// Rows [<paramref name="firstRow"/>, firstRow + rowCount) of an NF4 weight: <c>CodeBook[code] · absmax</c> in
    /// float32, bit-exact to bitsandbytes' dequantize_4bit with a float32 output dtype.
    /// </summary>
    public static void Nf4Rows(in Nf4Tensor w, int firstRow, int rowCount, Span<float> destination)
    {
        CheckRows(w.Rows, w.Cols, firstRow, rowCount, destination.Length);
        long start = (long)firstRow * w.Cols;
        for (long k = 0; k < (long)rowCount * w.Cols; k++)
        {
            long j = start + k;
            destination[(int)k] = w.CodeBook[w.Code(j)] * w.BlockScale(j / w.BlockSize);
        }
    }

    /// <summary>
    /// Rows (outputs) [<paramref name="firstRow"/>, firstRow + rowCount) of a GPTQ weight in [out, in] orientation:
    /// <c>scale · (q − zero)</c>, exact in float32 (an f16 scale times an integer in [−16, 15] needs at most 16 bits).
    /// </summary>
    public static void GptqRows(in GptqTensor w, int firstRow, int rowCount, Span<float> destination)
    {
        CheckRows(w.Rows, w.Cols, firstRow, rowCount, destination.Length);
        for (int r = 0; r < rowCount; r++)
        {
            int o = firstRow + r;
            for (int i = 0; i < w.Cols; i++)
            {
                int g = w.GroupIndex[i];
                destination[r * w.Cols + i] = w.Scale(g, o) * (w.Q(i, o) - w.Zero(g, o));
            }
        }
    }

    private static void CheckRows(int rows, int cols, int firstRow, int rowCount, int destinationLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstRow);
        ArgumentOutOfRangeException.ThrowIfNegative(rowCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)firstRow + rowCount, rows, nameof(rowCount));
        if (destinationLength < (long)rowCount * cols)
            throw new ArgumentException($"destination holds {destinationLength} values; {rowCount}×{cols} are needed");
    }
}
