namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>
/// Slow, independent erf/erfc for tests: the Maclaurin series in System.Decimal (28 digits) for |z| &lt; 3, and the
/// Laplace continued fraction taken very deep for |z| ≥ 3.
/// </summary>
internal static class ErfReference
{
    private const decimal TwoOverSqrtPi = 1.1283791670955125738961589031m;

    public static double Erfc(double z)
    {
        if (z < 0) return 2 - Erfc(-z);
        if (z < 3) return (double)(1m - ErfSeries((decimal)z));
        double tail = z;
        for (int n = 20000; n >= 1; n--) tail = z + n / 2.0 / tail;
        return Math.Exp(-z * z) / Math.Sqrt(Math.PI) / tail;
    }

    public static double Erf(double z) => Math.Abs(z) < 3 ? (double)ErfSeries((decimal)z) : Math.Sign(z) * (1 - Erfc(Math.Abs(z)));

    /// <summary>erf(z) = 2/√π Σ (−1)ⁿ z^(2n+1) / (n!·(2n+1)).</summary>
    private static decimal ErfSeries(decimal z)
    {
        decimal z2 = z * z, power = z, sum = 0;
        for (int n = 0; n < 200; n++)
        {
            decimal term = power / (2 * n + 1);
            sum += term;
            power = -power * z2 / (n + 1);
            if (Math.Abs(term) < 1e-27m && n > 5) break;
        }
        return TwoOverSqrtPi * sum;
    }
}
