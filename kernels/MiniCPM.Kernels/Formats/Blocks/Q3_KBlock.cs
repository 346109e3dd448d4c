using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q3_K, 110 bytes: <c>hmask[32]</c> (high bit of each quant: bit k of byte l belongs to element 32k + l),
/// <c>qs[64]</c> (low 2 bits, same layout as Q2_K), <c>scales[12]</c> (sixteen 6-bit scales stored with a +32
/// bias), <c>d</c> (f16). The 3-bit quant is (low2 − 4) when its hmask bit is clear and low2 when set, so it spans
/// −4..3; y = d·(sc − 32)·q.
/// </summary>
internal struct Q3_KBlock : IBlockQuantizer
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
    /// ggml's <c>quantize_row_q3_K_ref</c>: a refined symmetric fit per 16-value sub-block (codes −4..3), the sixteen
    /// scales quantized to signed 6 bits against the one of largest magnitude, then the codes recomputed with the
    /// stored scales and split into 2 low bits (qs) and a high bit (hmask).
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<sbyte> codes = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];
        Span<byte> hmask = block[..32];
        Span<byte> packedScales = block.Slice(96, 12);

        float maxScale = 0, amax = 0;
        for (int j = 0; j < 16; j++)
        {
            scales[j] = KQuantSearch.SymmetricRefined(x.Slice(16 * j, 16), 4, codes.Slice(16 * j, 16));
            float scale = MathF.Abs(scales[j]);
            if (scale > amax) { amax = scale; maxScale = scales[j]; }
        }

        packedScales.Clear();
        if (maxScale != 0)
        {
            float iscale = -32f / maxScale;
            for (int j = 0; j < 16; j++)
            {
                // C: int8_t l = nearest_int(...) truncates to 8 bits before the clamp.
                int l = Math.Max(-32, Math.Min(31, (int)(sbyte)KQuantSearch.NearestInt(iscale * scales[j]))) + 32;
                if (j < 8) packedScales[j] = (byte)(l & 0x0F);
                else packedScales[j - 8] |= (byte)((l & 0x0F) << 4);
                packedScales[8 + j % 4] |= (byte)((l >> 4) << (2 * (j / 4)));
            }
            BinaryPrimitives.WriteUInt16LittleEndian(block[108..], Fp16.FromFloat(1 / iscale));
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(block[108..], Fp16.FromFloat(0f));
        }

        float dAll = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[108..]));
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * (Scale(packedScales, j) - 32);
            if (d == 0) continue;
            for (int i = 0; i < 16; i++)
                codes[16 * j + i] = (sbyte)(Math.Max(-4, Math.Min(3, KQuantSearch.NearestInt(x[16 * j + i] / d))) + 4);
        }

        // High bit of code j goes to bit j/32 of hmask[j % 32]; the low two bits stay.
        hmask.Clear();
        Span<byte> low = stackalloc byte[256];
        for (int j = 0; j < 256; j++)
        {
            int code = codes[j];
            if (code > 3)
            {
                hmask[j % 32] |= (byte)(1 << (j / 32));
                code -= 4;
            }
            low[j] = (byte)code;
        }
        KQuantSearch.PackTwoBit(low, block.Slice(32, 64));
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
