using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q6_K, 210 bytes: <c>ql[128]</c> (low 4 bits), <c>qh[64]</c> (high 2 bits), <c>scales[16]</c> (int8, one per 16
/// elements), <c>d</c> (f16) stored <b>last</b>. Each 128-element half uses 64 ql bytes, 32 qh bytes and 8 scales;
/// element l + 32k of a half (k = 0..3) takes its low nibble from ql[l] (k even) or ql[l + 32] (k odd), low
/// nibble for k &lt; 2 and high nibble otherwise, and bits 2k..2k+1 of qh[l]. y = (d·sc)·(q6 − 32).
/// </summary>
internal struct Q6_KBlock : IBlockQuantizer
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

    /// <summary>
    /// ggml's <c>quantize_row_q6_K_ref</c>: an x²-weighted symmetric fit per 16-value sub-block (codes −32..31), the
    /// sixteen scales quantized to int8 against the one of largest magnitude (d = that scale / −128), then the codes
    /// recomputed with the stored scales. A block whose scales are all below ggml's epsilon is stored as zeros.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<sbyte> codes = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];

        float maxScale = 0, maxAbsScale = 0;
        for (int j = 0; j < 16; j++)
        {
            scales[j] = KQuantSearch.SymmetricWeighted(x.Slice(16 * j, 16), 32, codes.Slice(16 * j, 16));
            float absScale = MathF.Abs(scales[j]);
            if (absScale > maxAbsScale) { maxAbsScale = absScale; maxScale = scales[j]; }
        }

        if (maxAbsScale < KQuantSearch.GroupMaxEpsilon)
        {
            block[..Bytes].Clear();
            return;
        }

        float iscale = -128f / maxScale;
        BinaryPrimitives.WriteUInt16LittleEndian(block[208..], Fp16.FromFloat(1 / iscale));
        Span<byte> storedScales = block.Slice(192, 16);
        for (int j = 0; j < 16; j++)
            storedScales[j] = (byte)(sbyte)Math.Min(127, KQuantSearch.NearestInt(iscale * scales[j]));

        float dAll = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[208..]));
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * (sbyte)storedScales[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++)
                codes[16 * j + i] = (sbyte)(Math.Max(-32, Math.Min(31, KQuantSearch.NearestInt(x[16 * j + i] / d))) + 32);
        }

        for (int half = 0; half < 2; half++)
        {
            Span<byte> ql = block.Slice(64 * half, 64);
            Span<byte> qh = block.Slice(128 + 32 * half, 32);
            ReadOnlySpan<sbyte> c = codes.Slice(128 * half, 128);
            for (int l = 0; l < 32; l++)
            {
                ql[l] = (byte)((c[l] & 0x0F) | ((c[l + 64] & 0x0F) << 4));
                ql[l + 32] = (byte)((c[l + 32] & 0x0F) | ((c[l + 96] & 0x0F) << 4));
                qh[l] = (byte)((c[l] >> 4) | ((c[l + 32] >> 4) << 2) | ((c[l + 64] >> 4) << 4) | ((c[l + 96] >> 4) << 6));
            }
        }
    }
}
