using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q4_0, 18 bytes: <c>d</c> (f16), then 16 bytes of 4-bit quants. Low nibbles hold elements 0..15, high nibbles
/// elements 16..31; y = (q − 8)·d.
/// </summary>
internal struct Q4_0Block : IBlockQuantizer
{
    public static int Elements => 32;
    public static int Bytes => 18;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block));
        ReadOnlySpan<byte> qs = block.Slice(2, 16);
        for (int j = 0; j < 16; j++)
        {
            int low = (qs[j] & 0x0F) - 8;
            int high = (qs[j] >> 4) - 8;
            y[j] = low * d;
            y[j + 16] = high * d;
        }
    }

    /// <summary>
    /// ggml's <c>quantize_row_q4_0_ref</c>: the value of largest magnitude (the first one, on ties) keeps its sign and
    /// maps to quant 0 via d = max / −8; the rest round half up by truncating x/d + 8.5, clamped to 15.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        float max = BlockRange.SignedMaxAbs(x[..32]);

        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(d));

        Span<byte> qs = block.Slice(2, 16);
        for (int j = 0; j < 16; j++)
        {
            byte low = (byte)Math.Min(15, CConversions.TruncateToLowByte(x[j] * id + 8.5f, signed: true));
            byte high = (byte)Math.Min(15, CConversions.TruncateToLowByte(x[j + 16] * id + 8.5f, signed: true));
            qs[j] = (byte)(low | (high << 4));
        }
    }
}
