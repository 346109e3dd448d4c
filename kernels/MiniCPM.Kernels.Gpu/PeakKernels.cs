using ILGPU;

namespace MiniCPM.Kernels.Gpu;

/// <summary>
/// Compute ceilings for the GPU bench, as its device copy is the memory ceiling: every thread (warp) runs independent
/// chains of float FMAs (TF32 tensor-core products) from registers, no memory traffic, so FLOP per second is the
/// arithmetic the device can issue. Results go to <c>sink</c> only under a condition no input meets, so nothing is
/// optimized away. ILGPU has no FMA intrinsic: ptxas contracts each a·b + c into one FFMA (minicpm-kernel-sass peak).
/// </summary>
public static class PeakKernels
{
    /// <summary>Independent FMA chains per thread (enough to hide the FMA latency), and FMAs per chain and iteration.</summary>
    public const int FmaChains = 8, FmaRounds = 4;

    /// <summary>TF32 products per warp and iteration (independent accumulators).</summary>
    public const int MmaChains = 4;

    /// <summary>FLOP of one m16n8k8 product.</summary>
    public const double MmaFlops = 2.0 * 16 * 8 * 8;

    public static void Fma(Index1D index, ArrayView<float> sink, int iterations, float seed)
    {
        float b = 1f + seed * 1e-7f, c = seed * 1e-9f;
        float a0 = index, a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7;
        for (int i = 0; i < iterations; i++)
        {
            // Four rounds written out (ILGPU does not unroll), so the loop's own count and branch are a small share.
            a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
            a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
            a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
            a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
            a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
            a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
            a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
            a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
        }
        float sum = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
        if (sum == seed) sink[index % sink.Length] = sum;
    }

    public static void Mma<TMma>(ArrayView<float> sink, int iterations, float seed) where TMma : struct, ITf32Mma
    {
        var mma = default(TMma);
        float a = Tf32.Round(seed), b = Tf32.Round(seed * 0.5f);
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (int i = 0; i < iterations; i++)
        {
            mma.MultiplyAdd(ref c00, ref c01, ref c02, ref c03, a, a, a, a, b, b);
            mma.MultiplyAdd(ref c10, ref c11, ref c12, ref c13, a, a, a, a, b, b);
            mma.MultiplyAdd(ref c20, ref c21, ref c22, ref c23, a, a, a, a, b, b);
            mma.MultiplyAdd(ref c30, ref c31, ref c32, ref c33, a, a, a, a, b, b);
        }
        float sum = c00 + c01 + c02 + c03 + c10 + c11 + c12 + c13 + c20 + c21 + c22 + c23 + c30 + c31 + c32 + c33;
        if (sum == seed) sink[Grid.GlobalIndex.X % sink.Length] = sum;
    }
}
