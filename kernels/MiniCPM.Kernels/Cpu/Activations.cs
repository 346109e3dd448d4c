using System.Numerics.Tensors;

namespace MiniCPM.Kernels.Cpu;

/// <summary>Element-wise activations (float32 in and out; the output may be the input).</summary>
public static class Activations
{
    /// <summary>Chunk processed through a stack buffer, small enough for L1.</summary>
    private const int Chunk = 256;

    // torch's tanh-GELU constants: β = √(2/π), κ = 0.044715.
    private const float GeluBeta = 0.7978845608028654f;
    private const float GeluKappa = 0.044715f;
    private const double InverseSqrt2 = 0.70710678118654752440;

    /// <summary>SwiGLU's gate: y = silu(gate)·up with silu(g) = g·σ(g) = g / (1 + e^(−g)).</summary>
    public static void SiluMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        int n = gate.Length;
        if (up.Length != n || y.Length < n) throw new ArgumentException($"gate ({n}), up ({up.Length}) and output ({y.Length}) must match");
        Span<float> sigmoid = stackalloc float[Chunk];
        for (int start = 0; start < n; start += Chunk)
        {
            int length = Math.Min(Chunk, n - start);
            ReadOnlySpan<float> g = gate.Slice(start, length);
            Span<float> s = sigmoid[..length];
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(s, g, s);
            TensorPrimitives.Multiply(s, up.Slice(start, length), y.Slice(start, length));
        }
    }

    /// <summary>
    /// torch's gelu(approximate="tanh") ("gelu_pytorch_tanh"): y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    /// </summary>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> y)
    {
        int n = x.Length;
        if (y.Length < n) throw new ArgumentException("output is shorter than the input", nameof(y));
        Span<float> buffer = stackalloc float[Chunk];
        for (int start = 0; start < n; start += Chunk)
        {
            int length = Math.Min(Chunk, n - start);
            ReadOnlySpan<float> xc = x.Slice(start, length);
            Span<float> t = buffer[..length];
            TensorPrimitives.Multiply(xc, xc, t);
            TensorPrimitives.Multiply(t, xc, t);
            TensorPrimitives.FusedMultiplyAdd(t, GeluKappa, xc, t);   // x + κx³
            TensorPrimitives.Multiply(t, GeluBeta, t);
            TensorPrimitives.Tanh(t, t);
            TensorPrimitives.Add(t, 1f, t);
            TensorPrimitives.Multiply(t, xc, t);
            TensorPrimitives.Multiply(t, 0.5f, y.Slice(start, length));
        }
    }

    /// <summary>
    /// Exact GELU (torch's default, "gelu"): y = ½·x·(1 + erf(x/√2)), evaluated in double as ½·x·erfc(−x/√2) so the
    /// far negative tail keeps its relative precision, then rounded to float32.
    /// </summary>
    public static void GeluErf(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("output is shorter than the input", nameof(y));
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i];
            y[i] = (float)(0.5 * v * Erf.Complement(-v * InverseSqrt2));
        }
    }
}
