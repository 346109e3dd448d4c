using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q5_K, 176 bytes: <c>d</c> (f16), <c>dmin</c> (f16), <c>scales[12]</c> (<see cref="KScaleMin"/>), <c>qh[32]</c>,
/// <c>qs[128]</c>. As Q4_K, plus a fifth bit: for group g the low-nibble element l takes bit 2g of qh[l], the
/// high-nibble element takes bit 2g+1. y = (d·sc)·q5 − (dmin·m).
/// </summary>
internal struct Q5_KBlock : IBlockQuantizer
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

    /// <summary>
    /// ggml's <c>quantize_row_q5_K_ref</c> (see <see cref="KScaleMinQuantizer"/>); codes 0..31, the low nibble in qs
    /// and the fifth bit in qh.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<byte> codes = stackalloc byte[256];
        KScaleMinQuantizer.Quantize(x, block, nmax: 31, rmin: -0.5f, rdelta: 0.1f, nstep: 15, codes);
        Span<byte> qh = block.Slice(16, 32);
        Span<byte> qs = block.Slice(48, 128);
        qh.Clear();
        for (int group = 0; group < 4; group++)
        {
            int lowBit = 1 << (2 * group), highBit = 2 << (2 * group);
            for (int l = 0; l < 32; l++)
            {
                int l1 = codes[64 * group + l], l2 = codes[64 * group + l + 32];
                if (l1 > 15) { l1 -= 16; qh[l] |= (byte)lowBit; }
                if (l2 > 15) { l2 -= 16; qh[l] |= (byte)highBit; }
                qs[32 * group + l] = (byte)(l1 | (l2 << 4));
            }
        }
    }
}
