namespace MiniCPM.Kernels.Formats;

/// <summary>bfloat16 bit patterns: the upper half of a float32, converted the way ggml converts them.</summary>
public static class Bf16
{
    /// <summary>Exact widening: a bfloat16 is the top 16 bits of a float32.</summary>
    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>
    /// Narrows a float32 to bfloat16 as ggml's <c>GGML_FP32_TO_BF16</c>: round to nearest, ties to even (subnormals
    /// included, nothing is flushed), overflow rounds to ±infinity; a NaN keeps its sign and top payload bits and is
    /// forced quiet (bit 6 of the result set) so truncation can never turn it into an infinity.
    /// </summary>
    public static ushort FromFloat(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u)
            return (ushort)((bits >> 16) | 0x40);

        // Adding 0x7FFF plus the lowest kept bit rounds half-way cases towards the even neighbour.
        uint lowestKeptBit = (bits >> 16) & 1;
        return (ushort)((bits + 0x7FFFu + lowestKeptBit) >> 16);
    }
}
