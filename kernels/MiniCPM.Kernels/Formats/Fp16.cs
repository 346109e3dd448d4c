namespace MiniCPM.Kernels.Formats;

/// <summary>
/// IEEE binary16 ("half") bit patterns as ggml stores them (<c>ggml_half</c>), converted the way ggml converts them.
/// </summary>
public static class Fp16
{
    /// <summary>Quiet NaN ggml writes for every float NaN (the sign is kept, the payload is dropped).</summary>
    public const ushort CanonicalNaN = 0x7E00;

    /// <summary>Exact widening of a half to float32 (every half value is a float32 value).</summary>
    public static float ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>
    /// Narrows a float32 to half bits with round-to-nearest-even, overflow to ±infinity and gradual underflow, as
    /// ggml's <c>GGML_FP32_TO_FP16</c>. NaN becomes sign | 0x7E00, which is what ggml's software conversion writes.
    /// </summary>
    public static ushort FromFloat(float value)
    {
        if (float.IsNaN(value))
        {
            uint sign = BitConverter.SingleToUInt32Bits(value) & 0x8000_0000u;
            return (ushort)((sign >> 16) | CanonicalNaN);
        }
        // System.Half's explicit conversion is the IEEE round-to-nearest-even narrowing.
        return BitConverter.HalfToUInt16Bits((Half)value);
    }
}
