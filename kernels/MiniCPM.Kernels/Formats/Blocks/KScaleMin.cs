namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// The 12-byte packing of eight 6-bit (scale, min) pairs shared by Q4_K and Q5_K (ggml's <c>get_scale_min_k4</c>).
/// Sub-blocks 0..3 keep their 6 bits in the low bits of bytes 0..3 (scale) and 4..7 (min); sub-blocks 4..7 keep
/// their low 4 bits in the nibbles of bytes 8..11 and their top 2 bits in the spare top bits of bytes 0..7.
/// </summary>
internal static class KScaleMin
{
    public static (int Scale, int Min) Get(ReadOnlySpan<byte> scales, int subBlock)
    {
        if (subBlock < 4)
            return (scales[subBlock] & 63, scales[subBlock + 4] & 63);

        int scale = (scales[subBlock + 4] & 0x0F) | ((scales[subBlock - 4] >> 6) << 4);
        int min = (scales[subBlock + 4] >> 4) | ((scales[subBlock] >> 6) << 4);
        return (scale, min);
    }
}
