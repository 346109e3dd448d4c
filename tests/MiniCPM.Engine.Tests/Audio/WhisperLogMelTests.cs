using MiniCPM.Engine.Audio;

namespace MiniCPM.Engine.Tests.Audio;

/// <summary>
/// The log-mel front end's rules beyond the golden case: Slaney scale and filter normalisation, the clamp against the
/// maximum of the padded 30 s window, frame counts.
/// </summary>
public class WhisperLogMelTests
{
    [Fact]
    public void SlaneyScaleIsLinearBelow1kHzAndLogarithmicAbove()
    {
        Assert.Equal(15, MelFilterBank.HertzToMel(1000), 12);
        Assert.Equal(3, MelFilterBank.HertzToMel(200), 12);
        Assert.Equal(15 + 27, MelFilterBank.HertzToMel(6400), 10); // 27 mels per factor 6.4
        foreach (double hz in new[] { 0.0, 123.4, 999.9, 1000, 4321, 8000 })
            Assert.Equal(hz, MelFilterBank.MelToHertz(MelFilterBank.HertzToMel(hz)), 9);
    }

    [Fact]
    public void SlaneyFiltersHaveUnitAreaAndTile0To8kHz()
    {
        // Each triangle is scaled by 2/(f_(m+2) − f_m), so its area ∫W df is 1: the sum of its bin weights × 40 Hz
        // approximates that for filters much wider than a bin (the upper filters, hundreds of Hz wide).
        var bank = new MelFilterBank(201, 80, 0, 8000, 16000);
        for (int m = 50; m < 79; m++)
        {
            double area = Enumerable.Range(0, 201).Sum(k => bank.Weight(m, k)) * 40;
            Assert.True(Math.Abs(area - 1) < 0.02, $"filter {m} area {area}");
        }
        Assert.Equal(0, bank.Weight(0, 0)); // the first filter starts at 0 Hz with weight 0
        Assert.True(bank.Weight(79, 199) > 0 && bank.Weight(79, 200) == 0); // the last one ends at 8 kHz
        Assert.All(Enumerable.Range(0, 80), m => Assert.True(Enumerable.Range(0, 201).Max(k => bank.Weight(m, k)) > 0, $"filter {m} is empty"));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(160, 1)]
    [InlineData(161, 2)]
    [InlineData(32000, 200)]
    [InlineData(480000, 3000)]
    public void FramesAreCeilOfSamplesOverHop(int samples, int frames)
    {
        Assert.Equal(frames, WhisperLogMel.FrameCount(samples));
        Assert.Equal(80 * frames, new WhisperLogMel().Compute(new float[samples]).Length);
    }

    [Fact]
    public void SilenceIsTheFloorEverywhere()
    {
        // log10(1e-10) = −10 everywhere, max − 8 = −18 does not bind, (−10 + 4)/4 = −1.5.
        Assert.All(new WhisperLogMel().Compute(new float[1600]), v => Assert.Equal(-1.5f, v));
    }

    [Fact]
    public void ValuesAreClampedEightDecadesBelowThePiecesMaximum()
    {
        // A loud tone for 0.1 s, then near-silence: the quiet frames sit at exactly (max − 8 + 4)/4, where max is the
        // largest log-mel value of the piece.
        var samples = new float[16000];
        for (int i = 0; i < 1600; i++) samples[i] = (float)(0.9 * Math.Sin(2 * Math.PI * 1000 * i / 16000.0));
        for (int i = 1600; i < samples.Length; i++) samples[i] = (float)(1e-6 * Math.Sin(i));
        var mel = new WhisperLogMel().Compute(samples);
        float top = mel.Max(), bottom = mel.Min();
        Assert.Equal(top - 2, bottom, 5); // (x + 4)/4 maps a span of 8 to 2
        Assert.True(mel.Count(v => v == bottom) > 80 * 50, "the quiet half should be clamped");
    }

    [Theory]
    [InlineData(480000)] // a whole piece: 3000 frames, the reflected tail included
    [InlineData(31000)]  // 194 frames: a few work items and a short last one
    [InlineData(5000)]   // fewer frames than two work items: no split
    public void AThreadPoolGivesTheSameValues(int length)
    {
        // The loudest frame sits in the middle, so the maximum (and the clamp) come from one work item among several.
        var samples = new float[length];
        for (int i = 0; i < length; i++) samples[i] = (float)((i > length / 2 && i < length / 2 + 800 ? 0.8 : 0.01) * Math.Sin(i * 0.37));
        var logMel = new WhisperLogMel();
        using var pool = new MiniCPM.Kernels.Cpu.CpuThreadPool(2);
        Assert.Equal(logMel.Compute(samples), logMel.Compute(samples, pool));
    }

    [Fact]
    public void LongAndEmptyPiecesAreRejected()
    {
        var logMel = new WhisperLogMel();
        Assert.Throws<ArgumentException>(() => logMel.Compute([]));
        Assert.Throws<ArgumentException>(() => logMel.Compute(new float[480001]));
    }
}
