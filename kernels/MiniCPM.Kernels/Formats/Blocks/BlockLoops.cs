namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>Walks whole blocks of one type; callers have already checked that the lengths match.</summary>
internal static class BlockLoops
{
    public static void Dequantize<TBlock>(ReadOnlySpan<byte> source, Span<float> destination)
        where TBlock : struct, IBlockFormat
    {
        int blocks = source.Length / TBlock.Bytes;
        for (int b = 0; b < blocks; b++)
        {
            TBlock.Dequantize(
                source.Slice(b * TBlock.Bytes, TBlock.Bytes),
                destination.Slice(b * TBlock.Elements, TBlock.Elements));
        }
    }

    public static void Quantize<TBlock>(ReadOnlySpan<float> source, Span<byte> destination)
        where TBlock : struct, IBlockQuantizer
    {
        int blocks = source.Length / TBlock.Elements;
        for (int b = 0; b < blocks; b++)
        {
            TBlock.Quantize(
                source.Slice(b * TBlock.Elements, TBlock.Elements),
                destination.Slice(b * TBlock.Bytes, TBlock.Bytes));
        }
    }
}
