namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// The scale searches ggml's K-quant reference quantizers share (ggml-quants.c: <c>nearest_int</c>,
/// <c>make_qx_quants</c>, <c>make_q3_quants</c>, <c>make_qkx2_quants</c>). Every float operation is kept in the C
/// source's order and precision (float32, no fused multiply-add), because the chosen codes flip on the last bit of
/// a sum: that is what makes the encoded bytes identical to llama.cpp's.
/// </summary>
internal static class KQuantSearch
{
    /// <summary>ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is stored as zero.</summary>
    public const float GroupMaxEpsilon = 1e-15f;

    /// <summary>
    /// ggml's <c>nearest_int</c>: adds 1.5·2^23 so the integer lands in the mantissa (round half to even), then reads
    /// it back from the bits. Valid for |x| ≤ 2^22; beyond that it returns what the C code returns (garbage), kept
    /// for byte equality on degenerate input.
    /// </summary>
    public static int NearestInt(float value)
    {
        float shifted = value + 12582912f;
        int bits = BitConverter.SingleToInt32Bits(shifted);
        return (bits & 0x007FFFFF) - 0x00400000;
    }

    /// <summary>
    /// <c>make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL)</c>: symmetric codes −nmax..nmax−1 (stored + nmax)
    /// with an x²-weighted least-squares scale, trying 18 nudges of the initial 1/scale. Returns the scale.
    /// </summary>
    public static float SymmetricWeighted(ReadOnlySpan<float> x, int nmax, Span<sbyte> codes)
    {
        int n = x.Length;
        float max = LargestMagnitude(x, out float amax);
        if (amax < GroupMaxEpsilon)
        {
            codes[..n].Clear();
            return 0f;
        }

        float iscale = -nmax / max;
        var (sumlx, suml2) = FitCodes(x, nmax, iscale, codes, codeOffset: nmax);
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i])));
                float w = x[i] * x[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                    codes[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i]))));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>
    /// <c>make_q3_quants(n, nmax, x, L, do_rmse = true)</c>: symmetric codes −nmax..nmax−1 (stored + nmax), refined by
    /// up to five passes that move one code at a time while the x²-weighted fit improves. Returns the scale.
    /// </summary>
    public static float SymmetricRefined(ReadOnlySpan<float> x, int nmax, Span<sbyte> codes)
    {
        int n = x.Length;
        float max = LargestMagnitude(x, out float amax);
        if (amax < GroupMaxEpsilon)
        {
            codes[..n].Clear();
            return 0f;
        }

        float iscale = -nmax / max;
        var (sumlx, suml2) = FitCodes(x, nmax, iscale, codes, codeOffset: 0);
        for (int attempt = 0; attempt < 5; attempt++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * codes[i];
                if (slx > 0)
                {
                    float sl2 = suml2 - w * codes[i] * codes[i];
                    int newL = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(x[i] * sl2 / slx)));
                    if (newL != codes[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            codes[i] = (sbyte)newL;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        for (int i = 0; i < n; i++) codes[i] += (sbyte)nmax;
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }

    /// <summary>
    /// <c>make_qkx2_quants</c>: affine codes 0..nmax with scale and min (min ≤ 0, returned negated as
    /// <paramref name="negatedMin"/>), starting from the range fit and keeping the best of nstep + 1 weighted
    /// least-squares refits at 1/scale = (rmin + rdelta·is + nmax)/(max − min). Returns the scale.
    /// </summary>
    public static float AffineWeighted(ReadOnlySpan<float> x, int nmax, ReadOnlySpan<float> weights, Span<byte> codes,
        out float negatedMin, Span<byte> scratch, float rmin, float rdelta, int nstep, bool useMad)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            codes[..n].Clear();
            negatedMin = -min;
            return 0f;
        }

        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            codes[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * codes[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1)
        {
            negatedMin = -min;
            return scale;
        }

        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(0, Math.Min(nmax, NearestInt(iscale * (x[i] - min))));
                scratch[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float determinant = sumW * sumL2 - sumL * sumL;
            if (determinant > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / determinant;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / determinant;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float error = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * scratch[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    error += weights[i] * diff;
                }
                if (error < bestError)
                {
                    scratch[..n].CopyTo(codes);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        negatedMin = -min;
        return scale;
    }

    /// <summary>
    /// Packs 256 two-bit codes as Q2_K and Q3_K store them: per 128-value half, byte l holds codes l, l+32, l+64,
    /// l+96 at shifts 0, 2, 4, 6.
    /// </summary>
    public static void PackTwoBit(ReadOnlySpan<byte> codes, Span<byte> qs)
    {
        for (int half = 0; half < 2; half++)
        {
            int j = 128 * half;
            for (int l = 0; l < 32; l++)
                qs[32 * half + l] = (byte)(codes[j + l] | (codes[j + l + 32] << 2) | (codes[j + l + 64] << 4) | (codes[j + l + 96] << 6));
        }
    }

    /// <summary>The element of largest magnitude (the first of equals), and that magnitude.</summary>
    private static float LargestMagnitude(ReadOnlySpan<float> x, out float amax)
    {
        float max = 0;
        amax = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        return max;
    }

    /// <summary>Codes l = clamp(nearest(iscale·x), −nmax, nmax−1), stored as l + <paramref name="codeOffset"/>, and the
    /// x²-weighted sums Σ w·x·l and Σ w·l² the searches compare fits by (accumulated in the C source's order).</summary>
    private static (float SumLx, float SumL2) FitCodes(ReadOnlySpan<float> x, int nmax, float iscale, Span<sbyte> codes, int codeOffset)
    {
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int l = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i])));
            codes[i] = (sbyte)(l + codeOffset);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        return (sumlx, suml2);
    }
}
