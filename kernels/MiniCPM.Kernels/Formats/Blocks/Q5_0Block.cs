using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q5_0, 22 bytes: <c>d</c> (f16), <c>qh</c> (u32 LE: bit j is the fifth bit of element j), 16 bytes of low
/// nibbles (elements 0..15 low, 16..31 high); y = (q5 − 16)·d.
/// </summary>
internal struct Q5_0Block : IBlockQuantizer
{
    public static int Elements => 32;
    public static int Bytes => 22;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block));
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[2..]);
        ReadOnlySpan<byte> qs = block.Slice(6, 16);
        for (int j = 0; j < 16; j++)
        {
            int fifthLow = (int)((qh >> j) & 1) << 4;
            int fifthHigh = (int)((qh >> (j + 16)) & 1) << 4;
            int low = ((qs[j] & 0x0F) | fifthLow) - 16;
            int high = ((qs[j] >> 4) | fifthHigh) - 16;
            y[j] = low * d;
            y[j + 16] = high * d;
        }
    }

    /// <summary>ggml's <c>quantize_row_q5_0_ref</c>: as Q4_0 with d = max / −16, offset 16.5, clamp 31.</summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        float max = BlockRange.SignedMaxAbs(x[..32]);

        float d = max / -16f;
        float id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(d));

        uint qh = 0;
        Span<byte> qs = block.Slice(6, 16);
        for (int j = 0; j < 16; j++)
        {
            int low = Math.Min(31, CConversions.TruncateToLowByte(x[j] * id + 16.5f, signed: true)) & 0xFF;
            int high = Math.Min(31, CConversions.TruncateToLowByte(x[j + 16] * id + 16.5f, signed: true)) & 0xFF;
            qs[j] = (byte)((low & 0x0F) | ((high & 0x0F) << 4));
            qh |= (uint)((low >> 4) & 1) << j;
            qh |= (uint)((high >> 4) & 1) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(block[2..], qh);
    }
}
