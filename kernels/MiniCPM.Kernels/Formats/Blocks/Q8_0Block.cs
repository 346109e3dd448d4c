using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>Q8_0, 34 bytes: <c>d</c> (f16), 32 × int8 quants; y = q·d.</summary>
internal struct Q8_0Block : IBlockQuantizer
{
    public static int Elements => 32;
    public static int Bytes => 34;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y) =>
        Int8Quants.Dequantize(block.Slice(2, 32), Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block)), y);

    /// <summary>ggml's <c>quantize_row_q8_0_ref</c> (see <see cref="Int8Quants.Quantize"/>); d stored as f16.</summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        var (d, _) = Int8Quants.Quantize(x, block.Slice(2, 32));
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(d));
    }
}
