using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q8_K, 292 bytes: <c>d</c> (<b>float32</b>, not f16), <c>qs[256]</c> (int8), <c>bsums[16]</c> (int16 sums of
/// each 16 quants, only for dot products); y = d·q.
/// </summary>
internal struct Q8_KBlock : IBlockFormat
{
    public static int Elements => 256;
    public static int Bytes => 292;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = BinaryPrimitives.ReadSingleLittleEndian(block);
        ReadOnlySpan<byte> qs = block.Slice(4, 256);
        for (int j = 0; j < 256; j++)
            y[j] = d * (sbyte)qs[j];
    }
}
