using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>One thread per element: residual add, fused SiLU·mul, tanh-GELU.</summary>
public static class ElementwiseKernels
{
    // torch's tanh-GELU constants: β = √(2/π), κ = 0.044715.
    private const float GeluBeta = 0.7978845608028654f;
    private const float GeluKappa = 0.044715f;

    /// <summary>y = a + b.</summary>
    public static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] + b[i];

    /// <summary>y = silu(gate) · up = gate · σ(gate) · up.</summary>
    public static void SiluMul(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> y)
    {
        float g = gate[i];
        y[i] = g / (1f + XMath.Exp(-g)) * up[i];
    }

    /// <summary>y[t, i] = silu(g) · u with g = gateUp[t, i], u = gateUp[t, width + i] (gate and up fused in one row).</summary>
    public static void SiluMulFused(Index1D i, ArrayView<float> gateUp, ArrayView<float> y, int width)
    {
        long token = i / width, j = i % width;
        float g = gateUp[token * 2 * width + j];
        y[i] = g / (1f + XMath.Exp(-g)) * gateUp[token * 2 * width + width + j];
    }

    /// <summary>y = ½x(1 + tanh(β(x + κx³))).</summary>
    public static void GeluTanh(Index1D i, ArrayView<float> x, ArrayView<float> y)
    {
        float v = x[i];
        float inner = GeluBeta * (v + GeluKappa * v * v * v);
        y[i] = 0.5f * v * (1f + XMath.Tanh(inner));
    }
}
