using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q6_K, 210 bytes: <c>ql[128]</c> (low 4 bits), <c>qh[64]</c> (high 2 bits), <c>scales[16]</c> (int8, one per 16
/// elements), <c>d</c> (f16) stored <b>last</b>. Each 128-element half uses 64 ql bytes, 32 qh bytes and 8 scales;
/// element l + 32k of a half (k = 0..3) takes its low nibble from ql[l] (k even) or ql[l + 32] (k odd), low
/// nibble for k &lt; 2 and high nibble otherwise, and bits 2k..2k+1 of qh[l]. y = (d·sc)·(q6 − 32).
/// </summary>
internal struct Q6_KBlock : IBlockFormat
{
    public static int Elements => 256;
    public static int Bytes => 210;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[208..]));

        for (int half = 0; half < 2; half++)
        {
            ReadOnlySpan<byte> ql = block.Slice(64 * half, 64);
            ReadOnlySpan<byte> qh = block.Slice(128 + 32 * half, 32);
            ReadOnlySpan<byte> sc = block.Slice(192 + 8 * half, 8);
            Span<float> output = y.Slice(128 * half, 128);
            for (int l = 0; l < 32; l++)
            {
                int s = l / 16;
                int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                output[l] = d * (sbyte)sc[s] * q1;
                output[l + 32] = d * (sbyte)sc[s + 2] * q2;
                output[l + 64] = d * (sbyte)sc[s + 4] * q3;
                output[l + 96] = d * (sbyte)sc[s + 6] * q4;
            }
        }
    }
}
