using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q8_1, 36 bytes: <c>d</c> (f16), <c>s</c> (f16, = d·Σq, used only by dot products), 32 × int8 quants; y = q·d.
/// ggml has no dequantize_row_q8_1 (it is an activation-side type); this is the obvious inverse of its quantizer.
/// </summary>
internal struct Q8_1Block : IBlockQuantizer
{
    public static int Elements => 32;
    public static int Bytes => 36;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y) =>
        Int8Quants.Dequantize(block.Slice(4, 32), Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block)), y);

    /// <summary>ggml's <c>quantize_row_q8_1_ref</c>: as Q8_0, plus s = f16(Σq · d) with the float32 d.</summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        var (d, sum) = Int8Quants.Quantize(x, block.Slice(4, 32));
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(d));
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromFloat(sum * d));
    }
}
