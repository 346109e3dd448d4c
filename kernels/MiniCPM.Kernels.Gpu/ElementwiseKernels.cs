using ILGPU;
using ILGPU.Algorithms;

namespace MiniCPM.Kernels.Gpu;

/// <summary>One thread per element: residual add, fused SiLU·mul, tanh-GELU, exact GELU, ReLU.</summary>
public static class ElementwiseKernels
{
    // torch's tanh-GELU constants: β = √(2/π), κ = 0.044715.
    private const float GeluBeta = 0.7978845608028654f;
    private const float GeluKappa = 0.044715f;

    /// <summary>y = a + b.</summary>
    public static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] + b[i];

    /// <summary>y = silu(gate) · up = gate · σ(gate) · up.</summary>
    public static void SiluMul(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> y) =>
        y[i] = SiluTimes(gate[i], up[i]);

    /// <summary>y[t, i] = silu(g) · u with g = gateUp[t, i], u = gateUp[t, width + i] (gate and up fused in one row).</summary>
    public static void SiluMulFused(Index1D i, ArrayView<float> gateUp, ArrayView<float> y, int width)
    {
        long token = i / width, j = i % width;
        y[i] = SiluTimes(gateUp[token * 2 * width + j], gateUp[token * 2 * width + width + j]);
    }

    /// <summary>
    /// <see cref="SiluMulFused"/> for the down projection's int8 input: one thread per 4 outputs writes the same floats
    /// and, 8 lanes per block of 32, their int8 block (<see cref="Int8Quantizer.QuantizeQuad"/>), so the quantize
    /// launch before down is gone. Width must be a multiple of 32; <paramref name="quads"/> = tokens·width / 4.
    /// </summary>
    public static void SiluMulFusedInt8(ArrayView<float> gateUp, ArrayView<float> y, int width, Int8Blocks q, int quads)
    {
        int quad = Grid.IdxX * Group.DimX + Group.IdxX;
        bool active = quad < quads;
        int rowQuads = width / 4, token = quad / rowQuads, j = quad - token * rowQuads;
        Float4 value = default;
        if (active)
        {
            var gu = gateUp.Cast<Float4>();
            long gate = (long)token * 2 * rowQuads + j;
            Float4 g = gu[gate], u = gu[gate + rowQuads];
            value = new Float4(SiluTimes(g.X, u.X), SiluTimes(g.Y, u.Y), SiluTimes(g.Z, u.Z), SiluTimes(g.W, u.W));
            y.Cast<Float4>()[quad] = value;
        }
        Int8Quantizer.QuantizeQuad(value, q, (long)token * q.BlocksPerToken + j / 8, active);
    }

    /// <summary>silu(g) · u = g · σ(g) · u, written once so every SiLU·mul kernel rounds alike.</summary>
    internal static float SiluTimes(float g, float u) => g / (1f + XMath.Exp(-g)) * u;

    /// <summary>
    /// y = ½x(1 + tanh(β(x + κx³))), computed as x·σ(2β(x + κx³)) (the same function: ½(1 + tanh t) = σ(2t)).
    /// XMath.Tanh is not used because ILGPU's fast-math CUDA backend emits <c>tanh.approx.ftz.f32</c>, which PTX does
    /// not have (there is only <c>tanh.approx.f32</c>): the driver's JIT rejects the whole module.
    /// </summary>
    public static void GeluTanh(Index1D i, ArrayView<float> x, ArrayView<float> y)
    {
        float v = x[i];
        float inner = GeluBeta * (v + GeluKappa * v * v * v);
        y[i] = v / (1f + XMath.Exp(-2f * inner)); // very negative x: exp → +∞, y → −0 (GELU's limit)
    }

    /// <summary>y = gelu(x) exactly, ½·x·erfc(−x/√2) (<see cref="DeviceErf"/>): Whisper's activation.</summary>
    public static void GeluErf(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = DeviceErf.Gelu(x[i]);

    /// <summary>y = max(x, 0), NaN staying NaN as on the CPU (PTX's max would turn it into 0).</summary>
    public static void Relu(Index1D i, ArrayView<float> x, ArrayView<float> y)
    {
        float v = x[i];
        y[i] = XMath.IsNaN(v) ? v : IntrinsicMath.Max(v, 0f);
    }
}
