namespace MiniCPM.Kernels.Formats;

/// <summary>Block geometry of each <see cref="TensorType"/>: a plain dtype is a block of one element.</summary>
public static class TensorTypeInfo
{
    /// <summary>Elements in one block (1 for plain dtypes, 32 or 256 for quantized types).</summary>
    public static int BlockElements(this TensorType type) => type switch
    {
        TensorType.Q4_0 or TensorType.Q4_1 or TensorType.Q5_0 or TensorType.Q5_1 or TensorType.Q8_0 or TensorType.Q8_1 => 32,
        TensorType.Q2_K or TensorType.Q3_K or TensorType.Q4_K or TensorType.Q5_K or TensorType.Q6_K or TensorType.Q8_K => 256,
        _ => 1,
    };

    /// <summary>Bytes in one block.</summary>
    public static int BlockBytes(this TensorType type) => type switch
    {
        TensorType.F32 => 4,
        TensorType.F16 => 2,
        TensorType.BF16 => 2,
        TensorType.F64 => 8,
        TensorType.I8 or TensorType.U8 or TensorType.Bool => 1,
        TensorType.I16 or TensorType.U16 => 2,
        TensorType.I32 or TensorType.U32 => 4,
        TensorType.I64 or TensorType.U64 => 8,
        TensorType.Q4_0 => 18,
        TensorType.Q4_1 => 20,
        TensorType.Q5_0 => 22,
        TensorType.Q5_1 => 24,
        TensorType.Q8_0 => 34,
        TensorType.Q8_1 => 36,
        TensorType.Q2_K => 84,
        TensorType.Q3_K => 110,
        TensorType.Q4_K => 144,
        TensorType.Q5_K => 176,
        TensorType.Q6_K => 210,
        TensorType.Q8_K => 292,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown tensor type"),
    };

    /// <summary>True for ggml's block-quantized types.</summary>
    public static bool IsQuantized(this TensorType type) => type.BlockElements() > 1;

    /// <summary>True for the floating-point plain dtypes.</summary>
    public static bool IsFloat(this TensorType type) =>
        type is TensorType.F32 or TensorType.F16 or TensorType.BF16 or TensorType.F64;

    /// <summary>
    /// Bytes of a row of <paramref name="elements"/> elements, or null when the row length is not a whole number of
    /// blocks or the size overflows a 64-bit count. Callers that read files turn null into a format error naming the tensor.
    /// </summary>
    public static long? RowBytes(this TensorType type, long elements)
    {
        if (elements < 0) return null;
        int blockElements = type.BlockElements();
        if (elements % blockElements != 0) return null;
        long blocks = elements / blockElements;
        // A hostile row length (e.g. 2^61 F32 elements) must not wrap around to a negative size.
        if (blocks > long.MaxValue / type.BlockBytes()) return null;
        return blocks * type.BlockBytes();
    }

    /// <summary>
    /// Bytes of a tensor of the given shape (any order; the innermost dimension must be a whole number of blocks),
    /// or null when the shape is invalid for the type or the size overflows a 64-bit count.
    /// </summary>
    public static long? TensorBytes(this TensorType type, ReadOnlySpan<long> shapeOutermostFirst)
    {
        if (shapeOutermostFirst.Length == 0) return type.BlockElements() == 1 ? type.BlockBytes() : null;
        long inner = shapeOutermostFirst[^1];
        long? rowBytes = type.RowBytes(inner);
        if (rowBytes is null) return null;
        long total = rowBytes.Value;
        for (int i = 0; i < shapeOutermostFirst.Length - 1; i++)
        {
            long d = shapeOutermostFirst[i];
            if (d < 0) return null;
            try { total = checked(total * d); }
            catch (OverflowException) { return null; }
        }
        return total;
    }
}
