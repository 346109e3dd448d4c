using System.Buffers.Binary;

namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// The first half of ggml's <c>quantize_row_q4_K_ref</c> / <c>quantize_row_q5_K_ref</c>, which differ only in the
/// code range and search parameters: an affine fit per 32-value sub-block, weighted by rms(sub-block) + |x|; the
/// eight scales and mins quantized to 6 bits (<see cref="KScaleMin"/> packing) against the largest of each; then
/// the codes recomputed with the stored (f16 × 6-bit) scale and min.
/// </summary>
internal static class KScaleMinQuantizer
{
    /// <summary>
    /// Writes d (bytes 0..1), dmin (2..3) and the packed scales (4..15) of <paramref name="block"/> and returns the 256
    /// codes (0..<paramref name="nmax"/>) in <paramref name="codes"/>.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<byte> block, int nmax, float rmin, float rdelta, int nstep, Span<byte> codes)
    {
        Span<byte> scratch = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> scales = stackalloc float[8];
        Span<float> mins = stackalloc float[8];
        Span<byte> packed = block.Slice(4, 12);

        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            ReadOnlySpan<float> group = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += group[l] * group[l];
            float averageX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = averageX + MathF.Abs(group[l]);
            scales[j] = KQuantSearch.AffineWeighted(group, nmax, weights, codes.Slice(32 * j, 32), out mins[j], scratch,
                rmin, rdelta, nstep, useMad: false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }

        float inverseScale = maxScale > 0 ? 63f / maxScale : 0f;
        float inverseMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 8; j++)
        {
            // C: uint8_t ls = nearest_int(...) keeps the low byte, then MIN(63, ls).
            byte ls = Math.Min((byte)63, (byte)KQuantSearch.NearestInt(inverseScale * scales[j]));
            byte lm = Math.Min((byte)63, (byte)KQuantSearch.NearestInt(inverseMin * mins[j]));
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0x0F) | ((lm & 0x0F) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromFloat(maxScale / 63f));
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromFloat(maxMin / 63f));

        float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block));
        float dmin = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(block[2..]));
        for (int j = 0; j < 8; j++)
        {
            var (sc, m) = KScaleMin.Get(packed, j);
            float dl = d * sc;
            if (dl == 0) continue;
            float ml = dmin * m;
            for (int i = 0; i < 32; i++)
                codes[32 * j + i] = (byte)Math.Max(0, Math.Min(nmax, KQuantSearch.NearestInt((x[32 * j + i] + ml) / dl)));
        }
    }
}
