using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q3_K, 110 bytes: <c>hmask[32]</c> (high bit of each quant: bit k of byte l belongs to element 32k + l),
/// <c>qs[64]</c> (low 2 bits, same layout as Q2_K), <c>scales[12]</c> (sixteen 6-bit scales stored with a +32
/// bias), <c>d</c> (f16). The 3-bit quant is (low2 − 4) when its hmask bit is clear and low2 when set, so it spans
/// −4..3; y = d·(sc − 32)·q.
/// </summary>
internal struct Q3_KBlock : IBlockFormat
{
    public static int Elements => 256;
    public static int Bytes => 110;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        ReadOnlySpan<byte> hmask = block[..32];
        ReadOnlySpan<byte> qs = block.Slice(32, 64);
        ReadOnlySpan<byte> packedScales = block.Slice(96, 12);
        float dAll = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[108..]));

        int output = 0, subBlock = 0;
        int maskBit = 1;
        for (int half = 0; half < 2; half++)
        {
            ReadOnlySpan<byte> q = qs.Slice(32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                for (int part = 0; part < 2; part++)
                {
                    float dl = dAll * (Scale(packedScales, subBlock++) - 32);
                    for (int l = 16 * part; l < 16 * part + 16; l++)
                    {
                        int low2 = (q[l] >> shift) & 3;
                        int quant = low2 - ((hmask[l] & maskBit) != 0 ? 0 : 4);
                        y[output++] = dl * quant;
                    }
                }
                maskBit <<= 1;
            }
        }
    }

    /// <summary>
    /// Unbiased 6-bit scale j (0..15): low 4 bits are the low nibble of byte j (j &lt; 8) or the high nibble of byte
    /// j − 8; the top 2 bits are bits 2·(j/4)..+1 of byte 8 + j%4.
    /// </summary>
    internal static int Scale(ReadOnlySpan<byte> packed, int j)
    {
        int low4 = j < 8 ? packed[j] & 0x0F : packed[j - 8] >> 4;
        int high2 = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        return low4 | (high2 << 4);
    }
}
