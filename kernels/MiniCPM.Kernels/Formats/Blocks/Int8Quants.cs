namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>The 32 signed 8-bit quants shared by Q8_0 and Q8_1 (they differ only in the header before them).</summary>
internal static class Int8Quants
{
    /// <summary>y[j] = q[j]·d.</summary>
    public static void Dequantize(ReadOnlySpan<byte> qs, float d, Span<float> y)
    {
        for (int j = 0; j < 32; j++)
            y[j] = (sbyte)qs[j] * d;
    }

    /// <summary>
    /// ggml's reference rule: d = amax/127, q = roundf(x·(1/d)) with ties away from zero, using the float32 d (not its
    /// f16 rounding). Returns d and Σq (Q8_1 stores d·Σq).
    /// </summary>
    public static (float D, int Sum) Quantize(ReadOnlySpan<float> x, Span<byte> qs)
    {
        float amax = 0f;
        for (int j = 0; j < 32; j++)
            amax = CConversions.Max(amax, MathF.Abs(x[j]));

        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        int sum = 0;
        for (int j = 0; j < 32; j++)
        {
            sbyte q = (sbyte)CConversions.RoundHalfAwayFromZero(x[j] * id);
            qs[j] = (byte)q;
            sum += q;
        }
        return (d, sum);
    }
}
