using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>TF32 rounding.</summary>
internal static class Tf32
{
    /// <summary>
    /// <paramref name="value"/> rounded to TF32 (nearest, ties away from zero, as <c>cvt.rna.tf32.f32</c>): the low 13
    /// mantissa bits cleared. Infinities and NaN pass unchanged; values within half a TF32 step of float32's largest
    /// round to infinity.
    /// </summary>
    public static float Round(float value)
    {
        uint bits = Interop.FloatAsInt(value);
        if ((bits & 0x7F800000u) == 0x7F800000u) return value;
        return Interop.IntAsFloat((bits + 0x1000u) & 0xFFFFE000u);
    }
}
