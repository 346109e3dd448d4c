using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q4_K, 144 bytes: <c>d</c> (f16), <c>dmin</c> (f16), <c>scales[12]</c> (<see cref="KScaleMin"/>), <c>qs[128]</c>.
/// Four groups of 64 elements, each over 32 quant bytes: the low nibbles are sub-block 2g, the high nibbles
/// sub-block 2g+1. y = (d·sc)·q − (dmin·m).
/// </summary>
internal struct Q4_KBlock : IBlockQuantizer
{
    public static int Elements => 256;
    public static int Bytes => 144;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block));
        float dmin = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[2..]));
        ReadOnlySpan<byte> scales = block.Slice(4, 12);
        ReadOnlySpan<byte> qs = block.Slice(16, 128);

        int output = 0;
        for (int group = 0; group < 4; group++)
        {
            ReadOnlySpan<byte> q = qs.Slice(32 * group, 32);
            var (sc1, m1) = KScaleMin.Get(scales, 2 * group);
            var (sc2, m2) = KScaleMin.Get(scales, 2 * group + 1);
            float d1 = d * sc1, min1 = dmin * m1;
            float d2 = d * sc2, min2 = dmin * m2;
            for (int l = 0; l < 32; l++) y[output++] = d1 * (q[l] & 0x0F) - min1;
            for (int l = 0; l < 32; l++) y[output++] = d2 * (q[l] >> 4) - min2;
        }
    }

    /// <summary>ggml's <c>quantize_row_q4_K_ref</c> (see <see cref="KScaleMinQuantizer"/>); codes 0..15 as nibbles.</summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<byte> codes = stackalloc byte[256];
        KScaleMinQuantizer.Quantize(x, block, nmax: 15, rmin: -1f, rdelta: 0.1f, nstep: 20, codes);
        Span<byte> qs = block.Slice(16, 128);
        for (int group = 0; group < 4; group++)
            for (int l = 0; l < 32; l++)
                qs[32 * group + l] = (byte)(codes[64 * group + l] | (codes[64 * group + l + 32] << 4));
    }
}
