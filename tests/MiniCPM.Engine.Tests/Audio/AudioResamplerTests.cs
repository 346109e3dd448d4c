using MiniCPM.Engine.Audio;
using Xunit.Abstractions;

namespace MiniCPM.Engine.Tests.Audio;

/// <summary>
/// The resampler's quality measured with sine sweeps: in the passband (to 0.44·f_min) the gain of each tone and the
/// residual after removing the fitted tone (aliases, images, interpolation noise); in the stopband (from 0.5·f_out for
/// downsampling) what leaks through. Edges (the filter's reach) are excluded.
/// </summary>
public class AudioResamplerTests(ITestOutputHelper log)
{
    private const double InputSeconds = 0.25;

    [Theory]
    [InlineData(48000, 16000)]
    [InlineData(44100, 16000)]
    [InlineData(22050, 16000)]
    [InlineData(8000, 16000)]
    [InlineData(16000, 44100)]
    public void PassbandIsFlatAndClean(int from, int to)
    {
        int minRate = Math.Min(from, to);
        double worstGainDb = 0, worstResidualDb = -400;
        for (double f = 50; f <= 0.44 * minRate; f += 0.44 * minRate / 23)
        {
            var (gain, residual) = Measure(from, to, f);
            double gainDb = 20 * Math.Log10(gain), residualDb = 20 * Math.Log10(residual);
            if (Math.Abs(gainDb) > Math.Abs(worstGainDb)) worstGainDb = gainDb;
            worstResidualDb = Math.Max(worstResidualDb, residualDb);
            Assert.True(Math.Abs(gainDb) < 0.001, $"{from}→{to} Hz: gain at {f:0} Hz is {gainDb:0.0000} dB");
            Assert.True(residualDb < -90, $"{from}→{to} Hz: residual at {f:0} Hz is {residualDb:0.0} dB");
        }
        log.WriteLine($"{from}→{to}: passband ripple {worstGainDb:+0.00000;-0.00000} dB, worst residual {worstResidualDb:0.0} dB");
    }

    [Theory]
    [InlineData(48000, 16000)]
    [InlineData(44100, 16000)]
    [InlineData(22050, 16000)]
    public void StopbandIsRejectedBeforeDownsampling(int from, int to)
    {
        double worstDb = -400;
        for (double f = 0.5 * to + 50; f < 0.5 * from; f += (0.5 * from - 0.5 * to) / 17)
        {
            var output = AudioResampler.Resample(Tone(from, f), from, to);
            double leakDb = 20 * Math.Log10(Rms(Interior(output, from, to)) * Math.Sqrt(2));
            worstDb = Math.Max(worstDb, leakDb);
            Assert.True(leakDb < -90, $"{from}→{to} Hz: a {f:0} Hz tone leaks at {leakDb:0.0} dB");
        }
        log.WriteLine($"{from}→{to}: stopband (≥ {0.5 * to + 50:0} Hz) worst leak {worstDb:0.0} dB");
    }

    [Fact]
    public void LengthsAndIdentity()
    {
        var x = Tone(16000, 440);
        Assert.Equal(x, AudioResampler.Resample(x, 16000, 16000));
        Assert.Equal(1455, AudioResampler.Resample(new float[4009], 44100, 16000).Length); // ⌈4009·160/441⌉ = ⌈1454.5⌉
        Assert.Equal(5334, AudioResampler.Resample(new float[16000], 48000, 16000).Length);
        Assert.Equal(2, AudioResampler.Resample(new float[1], 8000, 16000).Length);
    }

    [Fact]
    public void ClipsAtOtherRatesComeTo16kHz()
    {
        var clip = new AudioClip(Tone(44100, 1000), 44100).ToWhisperRate();
        Assert.Equal(16000, clip.SampleRate);
        Assert.Equal(4000, clip.Samples.Length);
    }

    private static float[] Tone(int rate, double hertz)
    {
        var x = new float[(int)(rate * InputSeconds)];
        for (int i = 0; i < x.Length; i++) x[i] = (float)Math.Sin(2 * Math.PI * hertz * i / rate + 0.3);
        return x;
    }

    /// <summary>Output samples away from the ends (where the input stops and the filter sees zeros).</summary>
    private static float[] Interior(float[] output, int from, int to)
    {
        int edge = (int)Math.Ceiling(64.0 * to / Math.Min(from, to)) + 2;
        return output[edge..^edge];
    }

    private static (double Gain, double Residual) Measure(int from, int to, double hertz)
    {
        var output = AudioResampler.Resample(Tone(from, hertz), from, to);
        int edge = (int)Math.Ceiling(64.0 * to / Math.Min(from, to)) + 2;
        // Least-squares fit of a·sin + b·cos at the tone's frequency over the interior.
        double ss = 0, sc = 0, cc = 0, ys = 0, yc = 0;
        for (int j = edge; j < output.Length - edge; j++)
        {
            double phase = 2 * Math.PI * hertz * j / to;
            double s = Math.Sin(phase), c = Math.Cos(phase), y = output[j];
            ss += s * s; sc += s * c; cc += c * c; ys += y * s; yc += y * c;
        }
        double det = ss * cc - sc * sc;
        double a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
        double residual = 0;
        int count = 0;
        for (int j = edge; j < output.Length - edge; j++, count++)
        {
            double phase = 2 * Math.PI * hertz * j / to;
            double r = output[j] - a * Math.Sin(phase) - b * Math.Cos(phase);
            residual += r * r;
        }
        return (Math.Sqrt(a * a + b * b), Math.Sqrt(residual / count) * Math.Sqrt(2));
    }

    private static double Rms(float[] x) => Math.Sqrt(x.Sum(v => (double)v * v) / x.Length);
}
