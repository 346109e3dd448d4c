namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>The per-block statistics ggml's reference quantizers start from, each written once.</summary>
internal static class BlockRange
{
    /// <summary>
    /// The value of largest magnitude with its sign (the first one on ties), as the symmetric types (Q4_0, Q5_0)
    /// pick their scale from.
    /// </summary>
    public static float SignedMaxAbs(ReadOnlySpan<float> x)
    {
        float amax = 0f, max = 0f;
        foreach (float v in x)
        {
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        return max;
    }

    /// <summary>Minimum and maximum, as the offset types (Q4_1, Q5_1) use them.</summary>
    public static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        foreach (float v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }
}
