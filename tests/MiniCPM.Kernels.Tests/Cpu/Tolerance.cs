namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>Error bounds for float32 arithmetic, stated in units of float32's unit roundoff u = 2⁻²⁴.</summary>
internal static class Tolerance
{
    public const double U = 1.0 / (1 << 24);

    /// <summary>
    /// Worst-case error of a float32 sum of n products accumulated the kernels' way: each of 16 SIMD lanes (× up to
    /// 4 accumulators) adds about n/16 terms in sequence with FMA, then the lanes are reduced pairwise and the tail is
    /// added serially. The classical bound γ_k ≈ k·u over the longest chain of additions, times Σ|terms|, gives
    /// (n/16 + 16 + 8)·u·Σ|terms|; a few units more cover the final store.
    /// </summary>
    public static double DotProduct(int n, double sumOfAbsoluteTerms) => (n / 16.0 + 32) * U * sumOfAbsoluteTerms;
}
