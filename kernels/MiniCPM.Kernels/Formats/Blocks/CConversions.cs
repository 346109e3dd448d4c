namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// The few C conversions ggml's reference quantizers rely on, reproduced exactly (C# casts differ: .NET saturates
/// out-of-range float→integer conversions and <see cref="MathF.Round(float)"/> rounds ties to even).
/// </summary>
internal static class CConversions
{
    /// <summary>
    /// C's <c>(int8_t)f</c> / <c>(uint8_t)f</c> as x86-64 compilers emit it: truncate toward zero to a 32-bit int
    /// (<c>cvttss2si</c>, which yields INT_MIN for NaN and out-of-range values), then keep the low byte. In the
    /// quantizers the argument is always a small non-negative value; the out-of-range rule only matters for
    /// degenerate scales (e.g. a block whose largest magnitude is a float32 subnormal, making 1/d infinite).
    /// </summary>
    public static int TruncateToLowByte(float value, bool signed)
    {
        int truncated = value > -2147483648f && value < 2147483648f ? (int)value : int.MinValue;
        return signed ? (sbyte)truncated : (byte)truncated;
    }

    /// <summary>C's <c>roundf</c>: round half away from zero.</summary>
    public static float RoundHalfAwayFromZero(float value) => MathF.Round(value, MidpointRounding.AwayFromZero);

    /// <summary>ggml's <c>MAX(a, b)</c> macro, <c>a &gt; b ? a : b</c> (its NaN behaviour differs from Math.Max).</summary>
    public static float Max(float a, float b) => a > b ? a : b;
}
