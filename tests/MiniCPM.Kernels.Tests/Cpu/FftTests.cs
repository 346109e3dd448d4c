using System.Numerics;
using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

/// <summary>The mixed-radix FFT and the real-input FFT against a naive O(n²) DFT evaluated in double.</summary>
public class FftTests
{
    private static Complex[] NaiveDft(ReadOnlySpan<Complex> x)
    {
        int n = x.Length;
        var result = new Complex[n];
        for (int k = 0; k < n; k++)
        {
            Complex sum = 0;
            for (int j = 0; j < n; j++)
            {
                // Reduce jk mod n first so the angle stays exact for large products.
                double angle = -2 * Math.PI * ((long)j * k % n) / n;
                sum += x[j] * new Complex(Math.Cos(angle), Math.Sin(angle));
            }
            result[k] = sum;
        }
        return result;
    }

    private static Complex[] RandomComplex(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => new Complex(random.NextDouble() * 2 - 1, random.NextDouble() * 2 - 1)).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(12)]
    [InlineData(30)]
    [InlineData(49)]
    [InlineData(97)]
    [InlineData(128)]
    [InlineData(200)]
    [InlineData(400)]
    [InlineData(1000)]
    public void ComplexTransformMatchesNaiveDft(int n)
    {
        var x = RandomComplex(n, n);
        var expected = NaiveDft(x);
        var actual = new Complex[n];
        new Fft(n).Forward(x, actual);
        for (int k = 0; k < n; k++)
            Assert.True(Complex.Abs(actual[k] - expected[k]) < 1e-11 * Math.Sqrt(n), $"n={n} bin {k}: {actual[k]} vs {expected[k]}");
    }

    [Fact]
    public void WhisperLengthsUseSmallRadices()
    {
        Assert.Equal([4, 4, 5, 5], new Fft(400).Factors);
        Assert.Equal([4, 2, 5, 5], new Fft(200).Factors);
        Assert.Equal([97], new Fft(97).Factors);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(16)]
    [InlineData(194)]
    [InlineData(400)]
    public void RealTransformMatchesNaiveDftOfTheRealSignal(int n)
    {
        var random = new Random(n + 1);
        var x = Enumerable.Range(0, n).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        var expected = NaiveDft(x.Select(v => new Complex(v, 0)).ToArray());
        var fft = new RealFft(n);
        var actual = new Complex[fft.Bins];
        fft.Forward(x, actual);
        Assert.Equal(n / 2 + 1, fft.Bins);
        for (int k = 0; k < fft.Bins; k++)
            Assert.True(Complex.Abs(actual[k] - expected[k]) < 1e-11 * Math.Sqrt(n), $"n={n} bin {k}: {actual[k]} vs {expected[k]}");

        var power = new double[fft.Bins];
        fft.PowerSpectrum(x, actual, power);
        for (int k = 0; k < fft.Bins; k++)
            Assert.Equal(Complex.Abs(expected[k]) * Complex.Abs(expected[k]), power[k], 1e-9);
    }

    [Fact]
    public void PureToneLandsInItsBin()
    {
        // cos(2π·10·j/400) has all its energy in bin 10: X[10] = n/2.
        var x = Enumerable.Range(0, 400).Select(j => Math.Cos(2 * Math.PI * 10 * j / 400)).ToArray();
        var fft = new RealFft(400);
        var power = new double[fft.Bins];
        fft.PowerSpectrum(x, new Complex[fft.Bins], power);
        Assert.Equal(200.0 * 200.0, power[10], 1e-6);
        Assert.True(power.Where((_, k) => k != 10).All(p => p < 1e-18), "leakage into other bins");
    }

    [Fact]
    public void BadLengthsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Fft(0));
        Assert.Throws<ArgumentException>(() => new RealFft(7));
        Assert.Throws<ArgumentException>(() => new Fft(4).Forward(new Complex[3], new Complex[4]));
    }
}
