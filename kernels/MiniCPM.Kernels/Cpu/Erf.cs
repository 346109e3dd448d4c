namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// The error function to double precision (relative error ≲ 1e-14), written for GELU's exact form.
/// <para>
/// erfc(z) for z ≥ 0 is evaluated as a Taylor polynomial around the nearest point of a grid (step 1/16 on [0, 10]):
/// erfc(c + h) = Σ_k erfc⁽ᵏ⁾(c)·hᵏ/k!, where erfc⁽ᵏ⁾(c) = −(2/√π)·(−1)^(k−1)·H_(k−1)(c)·e^(−c²) with H the
/// (physicists') Hermite polynomials. The grid values erfc(c) themselves come once, at start-up, from slower forms:
/// for c &lt; 1, 1 − (2/√π)·c·e^(−c²)·Σ (2c²)ⁿ/(2n+1)!! (a series of positive terms; the subtraction costs less than
/// a digit there); from c = 1 on, the continued fraction erfc(c) = e^(−c²)/√π · 1/(c + ½/(c + 1/(c + 3⁄2/(c + …))))
/// taken 2000 levels deep (converged to the last bit). Relative accuracy holds in the far tail, which GELU needs for
/// large negative inputs.
/// </para>
/// </summary>
public static class Erf
{
    private const double GridStep = 1.0 / 16;
    private const int GridPoints = 161; // c = 0 … 10
    private const int Terms = 16; // |h| ≤ 1/32: the k-th term shrinks like (2c|h|)^k/k!
    private const double TwoOverSqrtPi = 1.1283791670955125739;
    private const double OneOverSqrtPi = 0.56418958354775628695;

    // Taylor coefficients erfc⁽ᵏ⁾(c)/k!, Terms per grid point.
    private static readonly double[] Coefficients = BuildCoefficients();

    /// <summary>erf(x) = 2/√π ∫₀ˣ e^(−t²) dt.</summary>
    public static double Evaluate(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax < 0.5)
        {
            // Taylor series 2/√π Σ (−1)ⁿ x^(2n+1)/(n!(2n+1)): keeps full relative precision near 0.
            double x2 = x * x, term = x, sum = x;
            for (int n = 1; n < 20; n++)
            {
                term *= -x2 / n;
                sum += term / (2 * n + 1);
            }
            return TwoOverSqrtPi * sum;
        }
        double tail = ComplementOfNonNegative(ax);
        return x > 0 ? 1 - tail : tail - 1;
    }

    /// <summary>erfc(x) = 1 − erf(x), accurate in relative terms for large x.</summary>
    public static double Complement(double x)
    {
        if (double.IsNaN(x)) return x;
        return x >= 0 ? ComplementOfNonNegative(x) : 2 - ComplementOfNonNegative(-x);
    }

    private static double ComplementOfNonNegative(double z)
    {
        if (z >= 10 + GridStep / 2) return z > 27 ? 0 : ContinuedFraction(z, 60);
        int index = (int)Math.Round(z / GridStep);
        double h = z - index * GridStep;
        ReadOnlySpan<double> c = Coefficients.AsSpan(index * Terms, Terms);
        double sum = c[Terms - 1];
        for (int k = Terms - 2; k >= 0; k--) sum = sum * h + c[k];
        return sum;
    }

    private static double[] BuildCoefficients()
    {
        var coefficients = new double[GridPoints * Terms];
        Span<double> hermite = stackalloc double[Terms];
        for (int p = 0; p < GridPoints; p++)
        {
            double c = p * GridStep;
            double gauss = Math.Exp(-c * c);
            // H_0 = 1, H_1 = 2c, H_(n+1) = 2c·H_n − 2n·H_(n−1)
            hermite[0] = 1;
            if (Terms > 1) hermite[1] = 2 * c;
            for (int n = 1; n + 1 < Terms; n++) hermite[n + 1] = 2 * c * hermite[n] - 2 * n * hermite[n - 1];

            int baseIndex = p * Terms;
            coefficients[baseIndex] = c < 1 ? SeriesComplement(c) : ContinuedFraction(c, 2000);
            double factorial = 1;
            for (int k = 1; k < Terms; k++)
            {
                factorial *= k;
                double sign = (k - 1) % 2 == 0 ? 1 : -1;
                coefficients[baseIndex + k] = -TwoOverSqrtPi * sign * hermite[k - 1] * gauss / factorial;
            }
        }
        return coefficients;
    }

    /// <summary>erfc(c) = 1 − (2/√π)·c·e^(−c²)·Σ (2c²)ⁿ/(2n+1)!! — every term of the sum positive.</summary>
    private static double SeriesComplement(double c)
    {
        double twoC2 = 2 * c * c, term = 1, sum = 1;
        for (int n = 1; n < 400 && term > 1e-18 * sum; n++)
        {
            term *= twoC2 / (2 * n + 1);
            sum += term;
        }
        return 1 - TwoOverSqrtPi * c * Math.Exp(-c * c) * sum;
    }

    /// <summary>erfc(z) = e^(−z²)/√π · 1/(z + (1/2)/(z + (2/2)/(z + (3/2)/(z + …)))), evaluated from the bottom up.</summary>
    private static double ContinuedFraction(double z, int depth)
    {
        double tail = z;
        for (int n = depth; n >= 1; n--) tail = z + n / 2.0 / tail;
        return OneOverSqrtPi * Math.Exp(-z * z) / tail;
    }
}
