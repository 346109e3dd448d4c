using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed class ErfTests
{
    // Published values (Abramowitz & Stegun table 7.1 and standard high-precision tables).
    [Theory]
    [InlineData(0.5, 0.5204998778130465377)]
    [InlineData(1.0, 0.8427007929497148693)]
    [InlineData(2.0, 0.9953222650189527342)]
    [InlineData(-1.0, -0.8427007929497148693)]
    public void ErfMatchesTables(double x, double expected) =>
        Assert.True(Math.Abs(Erf.Evaluate(x) - expected) <= 4e-16, $"erf({x}) = {Erf.Evaluate(x)}");

    [Theory]
    [InlineData(3.0, 2.209049699858544137e-5)]
    [InlineData(5.0, 1.537459794428034850e-12)]
    [InlineData(10.0, 2.088487583762544757e-45)]
    [InlineData(20.0, 5.395865611607900929e-176)]
    public void ErfcKeepsRelativePrecisionInTheTail(double x, double expected) =>
        Assert.True(Math.Abs(Erf.Complement(x) / expected - 1) <= 1e-14, $"erfc({x}) = {Erf.Complement(x)}");

    [Fact]
    public void ErfcMatchesIndependentReferenceAcrossTheRange()
    {
        var random = new Random(11);
        for (int i = 0; i < 2000; i++)
        {
            double z = random.NextDouble() * 14 - 4;
            double expected = ErfReference.Erfc(z);
            double actual = Erf.Complement(z);
            Assert.True(Math.Abs(actual / expected - 1) <= 5e-14, $"erfc({z}): {actual} vs {expected}");
        }
    }

    [Fact]
    public void ErfIsAccurateNearZero()
    {
        foreach (double z in new[] { 1e-10, 3e-5, 0.01, 0.3, 0.49999, 0.5, 0.75, 2.9 })
        {
            double expected = ErfReference.Erf(z);
            Assert.True(Math.Abs(Erf.Evaluate(z) / expected - 1) <= 1e-14, $"erf({z}) = {Erf.Evaluate(z)} vs {expected}");
            Assert.Equal(-Erf.Evaluate(z), Erf.Evaluate(-z));
        }
    }
}
