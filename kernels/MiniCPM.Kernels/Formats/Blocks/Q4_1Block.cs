using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q4_1, 20 bytes: <c>d</c> (f16), <c>m</c> (f16), 16 bytes of 4-bit quants (low nibbles = elements 0..15, high
/// nibbles = 16..31); y = q·d + m.
/// </summary>
internal struct Q4_1Block : IBlockQuantizer
{
    public static int Elements => 32;
    public static int Bytes => 20;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block));
        float m = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[2..]));
        ReadOnlySpan<byte> qs = block.Slice(4, 16);
        for (int j = 0; j < 16; j++)
        {
            int low = qs[j] & 0x0F;
            int high = qs[j] >> 4;
            y[j] = low * d + m;
            y[j + 16] = high * d + m;
        }
    }

    /// <summary>ggml's <c>quantize_row_q4_1_ref</c>: d = (max − min)/15, m = min, q = trunc((x − min)/d + 0.5) ≤ 15.</summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        var (min, max) = BlockRange.MinMax(x[..32]);

        float d = (max - min) / 15f;
        float id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(d));
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromFloat(min));

        Span<byte> qs = block.Slice(4, 16);
        for (int j = 0; j < 16; j++)
        {
            byte low = (byte)Math.Min(15, CConversions.TruncateToLowByte((x[j] - min) * id + 0.5f, signed: true));
            byte high = (byte)Math.Min(15, CConversions.TruncateToLowByte((x[j + 16] - min) * id + 0.5f, signed: true));
            qs[j] = (byte)(low | (high << 4));
        }
    }
}
