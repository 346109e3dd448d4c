using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q5_K, 176 bytes: <c>d</c> (f16), <c>dmin</c> (f16), <c>scales[12]</c> (<see cref="KScaleMin"/>), <c>qh[32]</c>,
/// <c>qs[128]</c>. As Q4_K, plus a fifth bit: for group g the low-nibble element l takes bit 2g of qh[l], the
/// high-nibble element takes bit 2g+1. y = (d·sc)·q5 − (dmin·m).
/// </summary>
internal struct Q5_KBlock : IBlockFormat
{
    public static int Elements => 256;
    public static int Bytes => 176;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block));
        float dmin = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[2..]));
        ReadOnlySpan<byte> scales = block.Slice(4, 12);
        ReadOnlySpan<byte> qh = block.Slice(16, 32);
        ReadOnlySpan<byte> qs = block.Slice(48, 128);

        int output = 0;
        for (int group = 0; group < 4; group++)
        {
            ReadOnlySpan<byte> ql = qs.Slice(32 * group, 32);
            int lowBit = 1 << (2 * group), highBit = 2 << (2 * group);
            var (sc1, m1) = KScaleMin.Get(scales, 2 * group);
            var (sc2, m2) = KScaleMin.Get(scales, 2 * group + 1);
            float d1 = d * sc1, min1 = dmin * m1;
            float d2 = d * sc2, min2 = dmin * m2;
            for (int l = 0; l < 32; l++)
                y[output++] = d1 * ((ql[l] & 0x0F) + ((qh[l] & lowBit) != 0 ? 16 : 0)) - min1;
            for (int l = 0; l < 32; l++)
                y[output++] = d2 * ((ql[l] >> 4) + ((qh[l] & highBit) != 0 ? 16 : 0)) - min2;
        }
    }
}
