using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q5_1, 24 bytes: <c>d</c> (f16), <c>m</c> (f16), <c>qh</c> (u32 LE fifth bits), 16 bytes of low nibbles;
/// y = q5·d + m.
/// </summary>
internal struct Q5_1Block : IBlockQuantizer
{
    public static int Elements => 32;
    public static int Bytes => 24;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block));
        float m = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[2..]));
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[4..]);
        ReadOnlySpan<byte> qs = block.Slice(8, 16);
        for (int j = 0; j < 16; j++)
        {
            int fifthLow = (int)((qh >> j) & 1) << 4;
            int fifthHigh = (int)((qh >> (j + 16)) & 1) << 4;
            int low = (qs[j] & 0x0F) | fifthLow;
            int high = (qs[j] >> 4) | fifthHigh;
            y[j] = low * d + m;
            y[j + 16] = high * d + m;
        }
    }

    /// <summary>ggml's <c>quantize_row_q5_1_ref</c>: d = (max − min)/31, m = min, q = trunc((x − min)/d + 0.5), no clamp.</summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        var (min, max) = BlockRange.MinMax(x[..32]);

        float d = (max - min) / 31f;
        float id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(d));
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromFloat(min));

        uint qh = 0;
        Span<byte> qs = block.Slice(8, 16);
        for (int j = 0; j < 16; j++)
        {
            int low = CConversions.TruncateToLowByte((x[j] - min) * id + 0.5f, signed: false);
            int high = CConversions.TruncateToLowByte((x[j + 16] - min) * id + 0.5f, signed: false);
            qs[j] = (byte)((low & 0x0F) | ((high & 0x0F) << 4));
            qh |= (uint)((low >> 4) & 1) << j;
            qh |= (uint)((high >> 4) & 1) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(block[4..], qh);
    }
}
