using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// erfc in float32 for kernels (ILGPU has no erf), for Whisper's exact GELU. For z ≥ 0 it is the classical Chebyshev
/// fit erfc(z) ≈ t·exp(−z² + P(t)), t = 1/(1 + z/2), P of degree 9, whose relative error is below 1.2·10⁻⁷ for every
/// z ≥ 0 (no cancellation in the far tail, where GELU's large negative inputs land); z &lt; 0 uses
/// erfc(z) = 2 − erfc(−z). Evaluated in float32, the exponent −z² + P carries a rounding error of about
/// 2⁻²⁴·z² and the polynomial a few 10⁻⁷, so the relative error grows from ~10⁻⁷ near 0 to ~10⁻⁶ at z ≈ 2.5 and a
/// few 10⁻⁶ at z ≈ 8, where erfc is below 10⁻²⁸: GELU stays within 10⁻⁸ + 10⁻⁶·|gelu(x)| of the CPU's
/// double-precision <see cref="MiniCPM.Kernels.Cpu.Erf"/> (checked on [−12, 12]).
/// </summary>
public static class DeviceErf
{
    /// <summary>erfc(z) = 1 − erf(z).</summary>
    public static float Complement(float z)
    {
        float a = XMath.Abs(z);
        float t = 1f / (1f + 0.5f * a);
        float p = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f
            + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
        float tail = t * XMath.Exp(-a * a + p);
        return z >= 0 ? tail : 2f - tail;
    }

    /// <summary>Exact GELU, ½·x·(1 + erf(x/√2)) = ½·x·erfc(−x/√2) (torch's "gelu").</summary>
    public static float Gelu(float x) => 0.5f * x * Complement(-x * 0.70710678118654752f);
}
