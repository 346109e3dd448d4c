using System.Numerics.Tensors;

namespace MiniCPM.Kernels.Cpu;

/// <summary>Plain element-wise arithmetic on float32 rows (thin, named wrappers so model code reads like the math).</summary>
public static class Elementwise
{
    /// <summary>y = a + b (y may be a or b: residual connections add in place).</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        if (a.Length != b.Length || y.Length < a.Length) throw new ArgumentException($"lengths differ: {a.Length}, {b.Length}, {y.Length}");
        TensorPrimitives.Add(a, b, y[..a.Length]);
    }

    /// <summary>y = x · s.</summary>
    public static void Scale(ReadOnlySpan<float> x, float s, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("output is shorter than the input", nameof(y));
        TensorPrimitives.Multiply(x, s, y[..x.Length]);
    }

    /// <summary>y = x ⊙ w (element-wise product).</summary>
    public static void Multiply(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y)
    {
        if (x.Length != w.Length || y.Length < x.Length) throw new ArgumentException($"lengths differ: {x.Length}, {w.Length}, {y.Length}");
        TensorPrimitives.Multiply(x, w, y[..x.Length]);
    }
}
