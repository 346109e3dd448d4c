namespace MiniCPM.Kernels.Formats;

/// <summary>
/// Where each block-quantized type keeps its f16 scales (d, and dmin/m/s where it has them), as byte offsets within
/// one block: what ggml's <c>ggml_validate_row_data</c> checks for NaN/Inf before a file is used.
/// </summary>
public static class BlockScales
{
    /// <summary>Byte offsets of the f16 scale fields in one block of <paramref name="type"/>; empty for plain types and Q8_K (f32 d).</summary>
    public static ReadOnlySpan<int> HalfOffsets(TensorType type) => type switch
    {
        TensorType.Q4_0 or TensorType.Q5_0 or TensorType.Q8_0 => [0],
        TensorType.Q4_1 or TensorType.Q5_1 or TensorType.Q8_1 or TensorType.Q4_K or TensorType.Q5_K => [0, 2],
        TensorType.Q2_K => [80, 82],
        TensorType.Q3_K => [108],
        TensorType.Q6_K => [208],
        _ => [],
    };

    /// <summary>True when the f16 bits are NaN or ±infinity (all exponent bits set).</summary>
    public static bool IsNonFiniteHalf(ushort bits) => (bits & 0x7C00) == 0x7C00;
}
