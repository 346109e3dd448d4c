using MiniCPM.Kernels.Cpu;

namespace MiniCPM.Kernels.Tests.Cpu;

public sealed class ActivationTests
{
    private const double U = Tolerance.U;

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(257)]
    [InlineData(1000)]
    public void SiluMulMatchesDoubleReference(int n)
    {
        var random = new Random(n);
        float[] gate = TestWeights.RandomVector(random, n, 12);
        float[] up = TestWeights.RandomVector(random, n, 3);
        var y = new float[n];
        Activations.SiluMul(gate, up, y);
        for (int i = 0; i < n; i++)
        {
            double g = gate[i];
            double expected = g / (1 + Math.Exp(-g)) * up[i];
            // exp and the reciprocal within a few ulp; two products.
            Assert.True(Math.Abs(y[i] - expected) <= 8 * U * Math.Abs(expected) + 1e-38, $"[{i}] {y[i]} vs {expected}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(255)]
    [InlineData(1000)]
    public void GeluTanhMatchesDoubleReference(int n)
    {
        var random = new Random(n + 1);
        float[] x = TestWeights.RandomVector(random, n, 10);
        var y = new float[n];
        Activations.GeluTanh(x, y);
        for (int i = 0; i < n; i++)
        {
            double v = x[i];
            double a = Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v);
            double t = Math.Tanh(a);
            double expected = 0.5 * v * (1 + t);
            // The argument is rounded a few times (error 4u·|a|, scaled by tanh' = 1 − t²); 1 + t is rounded in
            // float (absolute u·2) — which is all that is left of the result for very negative x, as in torch.
            double tolerance = 0.5 * Math.Abs(v) * ((1 - t * t) * Math.Abs(a) * 6 * U + 4 * U) + 4 * U * Math.Abs(expected);
            Assert.True(Math.Abs(y[i] - expected) <= tolerance, $"x={v}: {y[i]} vs {expected}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(257)]
    [InlineData(1000)]
    public void GeluErfMatchesReferenceToFloatRounding(int n)
    {
        var random = new Random(n + 2);
        float[] x = TestWeights.RandomVector(random, n, 10);
        x[0] = -9.5f; // deep in the tail: ½·x·erfc(6.7) ≈ −1e-20
        var y = new float[n];
        Activations.GeluErf(x, y);
        for (int i = 0; i < n; i++)
        {
            double v = x[i];
            double expected = 0.5 * v * ErfReference.Erfc(-v / Math.Sqrt(2));
            Assert.True(Math.Abs(y[i] - expected) <= 1.01 * U * Math.Abs(expected), $"x={v}: {y[i]} vs {expected}");
        }
    }
}
