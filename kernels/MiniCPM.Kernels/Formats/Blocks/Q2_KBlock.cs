using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// Q2_K, 84 bytes: <c>scales[16]</c> (per 16-element sub-block: low nibble = scale, high nibble = min),
/// <c>qs[64]</c> (2-bit quants), <c>d</c> (f16), <c>dmin</c> (f16). Each 128-element half uses 32 quant bytes; the
/// 2-bit field at shift 2s of byte l holds element 32s + l of that half. y = d·sc·q − dmin·m.
/// </summary>
internal struct Q2_KBlock : IBlockQuantizer
{
    public static int Elements => 256;
    public static int Bytes => 84;

    public static void Dequantize(ReadOnlySpan<byte> block, Span<float> y)
    {
        ReadOnlySpan<byte> scales = block[..16];
        ReadOnlySpan<byte> qs = block.Slice(16, 64);
        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[80..]));
        float dmin = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[82..]));

        int output = 0, subBlock = 0;
        for (int half = 0; half < 2; half++)
        {
            ReadOnlySpan<byte> q = qs.Slice(32 * half, 32);
            for (int shift = 0; shift < 8; shift += 2)
            {
                // Two 16-element sub-blocks per shift: bytes 0..15 then bytes 16..31 of this half.
                for (int part = 0; part < 2; part++)
                {
                    byte sc = scales[subBlock++];
                    float dl = d * (sc & 0x0F);
                    float ml = dmin * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                        y[output++] = dl * ((q[16 * part + l] >> shift) & 3) - ml;
                }
            }
        }
    }

    /// <summary>
    /// ggml's <c>quantize_row_q2_K_ref</c>: each 16-value sub-block gets an affine fit (codes 0..3, |x|-weighted,
    /// absolute-error criterion); the sixteen scales and mins are then quantized to 4 bits against the largest of
    /// each, and the codes recomputed with the stored (f16 × 4-bit) scale and min.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block)
    {
        const float FourBitMax = 15f;
        Span<byte> codes = stackalloc byte[256];
        Span<byte> scratch = stackalloc byte[16];
        Span<float> weights = stackalloc float[16];
        Span<float> scales = stackalloc float[16];
        Span<float> mins = stackalloc float[16];
        Span<byte> packedScales = block[..16];

        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 16; j++)
        {
            ReadOnlySpan<float> group = x.Slice(16 * j, 16);
            for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(group[l]);
            scales[j] = KQuantSearch.AffineWeighted(group, 3, weights, codes.Slice(16 * j, 16), out mins[j], scratch,
                rmin: -0.5f, rdelta: 0.1f, nstep: 15, useMad: true);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }

        if (maxScale > 0)
        {
            float iscale = FourBitMax / maxScale;
            for (int j = 0; j < 16; j++) packedScales[j] = (byte)KQuantSearch.NearestInt(iscale * scales[j]);
            WriteHalf(block, 80, maxScale / FourBitMax);
        }
        else
        {
            packedScales.Clear();
            WriteHalf(block, 80, 0f);
        }
        if (maxMin > 0)
        {
            float iscale = FourBitMax / maxMin;
            for (int j = 0; j < 16; j++) packedScales[j] |= (byte)(KQuantSearch.NearestInt(iscale * mins[j]) << 4);
            WriteHalf(block, 82, maxMin / FourBitMax);
        }
        else
        {
            WriteHalf(block, 82, 0f);
        }

        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[80..]));
        float dmin = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[82..]));
        for (int j = 0; j < 16; j++)
        {
            float dl = d * (packedScales[j] & 0x0F);
            if (dl == 0) continue;
            float ml = dmin * (packedScales[j] >> 4);
            for (int i = 0; i < 16; i++)
                codes[16 * j + i] = (byte)Math.Max(0, Math.Min(3, KQuantSearch.NearestInt((x[16 * j + i] + ml) / dl)));
        }

        KQuantSearch.PackTwoBit(codes, block.Slice(16, 64));
    }

    private static void WriteHalf(Span<byte> block, int offset, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block[offset..], Fp16.FromFloat(value));
}
