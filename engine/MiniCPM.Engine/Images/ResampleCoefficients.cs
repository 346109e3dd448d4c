namespace MiniCPM.Engine.Images;

/// <summary>
/// The per-output-pixel filter taps of one resampling axis, as Pillow's ImagingResample computes them for the bicubic
/// filter: for output index i the taps cover input pixels [First[i], First[i] + Count[i]) with fixed-point weights
/// (<see cref="PrecisionBits"/> fractional bits) stored at Weights[i·MaxTaps ..].
/// </summary>
/// <remarks>
/// Semantics reproduced from Pillow's libImaging/Resample.c (precompute_coeffs + normalize_coeffs_8bpc):
/// scale = in/out; when shrinking the kernel is stretched by the scale (antialiasing), support = 2·max(scale, 1);
/// the tap window is centred on (i + 0.5)·scale, its ends rounded by truncating "+ 0.5"; weights are the bicubic
/// kernel (a = −0.5) at (x − center + 0.5)/max(scale, 1), divided by their sum, then rounded half away from zero to
/// 22-bit fixed point. All of it in double precision, as Pillow does.
/// </remarks>
public sealed class ResampleCoefficients
{
    /// <summary>Pillow keeps 8 bits for the result and 2 for overflow out of a 32-bit accumulator: 22 fractional bits.</summary>
    public const int PrecisionBits = 32 - 8 - 2;

    /// <summary>The bicubic kernel's half-width in source pixels before stretching.</summary>
    private const double BicubicSupport = 2.0;

    public int InputSize { get; }
    public int OutputSize { get; }
    /// <summary>Stride of <see cref="Weights"/> per output pixel.</summary>
    public int MaxTaps { get; }
    public int[] First { get; }
    public int[] Count { get; }
    public int[] Weights { get; }

    private ResampleCoefficients(int inputSize, int outputSize, int maxTaps, int[] first, int[] count, int[] weights)
    {
        InputSize = inputSize;
        OutputSize = outputSize;
        MaxTaps = maxTaps;
        First = first;
        Count = count;
        Weights = weights;
    }

    /// <summary>The taps that map <paramref name="inputSize"/> pixels onto <paramref name="outputSize"/> (whole axis, no box).</summary>
    public static ResampleCoefficients Bicubic(int inputSize, int outputSize)
    {
        if (inputSize <= 0 || outputSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(outputSize), $"cannot resample {inputSize} pixels onto {outputSize}");

        double scale = (double)inputSize / outputSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = BicubicSupport * filterScale;
        int maxTaps = (int)Math.Ceiling(support) * 2 + 1;

        var first = new int[outputSize];
        var count = new int[outputSize];
        var weights = new int[checked(outputSize * maxTaps)];
        var taps = new double[maxTaps];
        double inverseFilterScale = 1.0 / filterScale;

        for (int i = 0; i < outputSize; i++)
        {
            double center = (i + 0.5) * scale;
            // (int) truncates toward zero in C and C#: these are Pillow's "round the value" steps, kept as they are.
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xmax = Math.Min((int)(center + support + 0.5), inputSize) - xmin;

            double sum = 0.0;
            for (int x = 0; x < xmax; x++)
            {
                double w = BicubicKernel((x + xmin - center + 0.5) * inverseFilterScale);
                taps[x] = w;
                sum += w;
            }
            for (int x = 0; x < xmax; x++)
            {
                double normalized = sum != 0.0 ? taps[x] / sum : taps[x];
                weights[i * maxTaps + x] = ToFixedPoint(normalized);
            }
            first[i] = xmin;
            count[i] = xmax;
        }
        return new ResampleCoefficients(inputSize, outputSize, maxTaps, first, count, weights);
    }

    /// <summary>Keys' cubic convolution kernel with a = −0.5 (Pillow's bicubic_filter).</summary>
    internal static double BicubicKernel(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /// <summary>Round half away from zero onto the 22-bit grid, truncating like C's (int) cast.</summary>
    private static int ToFixedPoint(double weight) =>
        weight < 0
            ? (int)(-0.5 + weight * (1 << PrecisionBits))
            : (int)(0.5 + weight * (1 << PrecisionBits));
}
