using System.Numerics;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// The DFT of a real sequence of even length n, bins 0 … n/2 (the rest are their conjugates), through one complex
/// transform of half the length: z[j] = x[2j] + i·x[2j+1] gives Z, and
/// X[k] = ½(Z[k] + Z*[n/2−k]) − ½i·e^(−2πik/n)·(Z[k] − Z*[n/2−k]) (Z indices mod n/2).
/// Not thread-safe (it keeps its scratch buffers): one instance per thread.
/// </summary>
public sealed class RealFft
{
    private readonly Fft _half;
    private readonly Complex[] _packed, _transformed, _twiddles;

    public RealFft(int length)
    {
        if (length < 2 || length % 2 != 0) throw new ArgumentException($"the real transform needs an even length ≥ 2, not {length}", nameof(length));
        Length = length;
        _half = new Fft(length / 2);
        _packed = new Complex[length / 2];
        _transformed = new Complex[length / 2];
        _twiddles = new Complex[length / 2 + 1];
        for (int k = 0; k <= length / 2; k++)
        {
            double angle = -2 * Math.PI * k / length;
            _twiddles[k] = new Complex(Math.Cos(angle), Math.Sin(angle));
        }
    }

    public int Length { get; }

    /// <summary>Number of output bins, n/2 + 1.</summary>
    public int Bins => Length / 2 + 1;

    /// <summary>X[0 … n/2] of the real <paramref name="input"/> (length n).</summary>
    public void Forward(ReadOnlySpan<double> input, Span<Complex> output)
    {
        if (input.Length != Length || output.Length < Bins)
            throw new ArgumentException($"the transform is of length {Length} with {Bins} bins; input {input.Length}, output {output.Length}");
        int half = Length / 2;
        for (int j = 0; j < half; j++) _packed[j] = new Complex(input[2 * j], input[2 * j + 1]);
        _half.Forward(_packed, _transformed);
        for (int k = 0; k <= half; k++)
        {
            Complex z = _transformed[k % half];
            Complex mirror = Complex.Conjugate(_transformed[(half - k) % half]);
            Complex even = 0.5 * (z + mirror);
            Complex odd = 0.5 * (z - mirror); // i·(transform of the odd samples)
            output[k] = even + new Complex(odd.Imaginary, -odd.Real) * _twiddles[k]; // −i·odd·W^k
        }
    }

    /// <summary>|X[k]|² for k = 0 … n/2.</summary>
    public void PowerSpectrum(ReadOnlySpan<double> input, Span<Complex> scratch, Span<double> power)
    {
        Forward(input, scratch);
        for (int k = 0; k < Bins; k++) power[k] = scratch[k].Real * scratch[k].Real + scratch[k].Imaginary * scratch[k].Imaginary;
    }
}
