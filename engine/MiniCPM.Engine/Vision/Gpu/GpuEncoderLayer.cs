using ILGPU;
using MiniCPM.Engine.Errors;
using MiniCPM.Engine.Models.Qwen2Gpu;
using MiniCPM.Kernels.Gpu;
using Buffer = ILGPU.Runtime.MemoryBuffer1D<float, ILGPU.Stride1D.Dense>;

namespace MiniCPM.Engine.Vision.Gpu;

/// <summary>The GELU of an encoder's MLP: SigLIP's tanh form or Whisper's exact (erf) one.</summary>
internal enum GeluForm { Tanh, Erf }

/// <summary>An encoder layer's device activations for n rows: x (updated in place) and the layer's scratch.</summary>
internal readonly record struct EncoderActivations(
    ArrayView<float> X, ArrayView<float> Normed, ArrayView<float> QueryKeyValue, ArrayView<float> Attention, ArrayView<float> Widened);

/// <summary>
/// One pre-LayerNorm transformer encoder layer on the device — SigLIP's and Whisper's (their layers are the same
/// math but for the GELU and Whisper's block-causal mask):
/// <code>
/// [q|k|v] = LN1(x)·W_qkvᵀ + b;  x += attention(q, k, v)·W_oᵀ + b_o
/// x += gelu(LN2(x)·W_upᵀ + b_up)·W_downᵀ + b_down
/// </code>
/// </summary>
internal sealed record GpuEncoderLayer(
    Buffer Norm1Weight, Buffer Norm1Bias, FusedLinear QueryKeyValue, FusedLinear Output,
    Buffer Norm2Weight, Buffer Norm2Bias, FusedLinear Up, FusedLinear Down) : IDisposable
{
    public IEnumerable<FusedLinear> Linears => [QueryKeyValue, Output, Up, Down];

    /// <summary>Throws <see cref="GpuUnavailableException"/> (naming <paramref name="what"/>, e.g. "vision hidden size")
    /// unless the kernels take a layer this wide: whole 32-column units, heads of at most the attention kernel's width.</summary>
    public static void RequireShape(GpuDevice device, string what, int width, int heads)
    {
        string? problem = null;
        if (width % 32 != 0) problem = $"{what} {width} is not a multiple of 32";
        else if (width % heads != 0 || width / heads > DenseAttentionKernel.MaxHeadDim)
            problem = $"{what} {width} in {heads} heads: the head dimension exceeds the attention kernel's {DenseAttentionKernel.MaxHeadDim}";
        if (problem is not null) throw new GpuUnavailableException(device.Name, problem + "; use --device cpu");
    }

    /// <param name="keyChunk">0: every row sees every row; otherwise block-causal chunks of this many rows
    /// (<see cref="DenseAttentionArgs.KeyChunk"/>).</param>
    public void Forward(GpuKernels k, EncoderActivations a, int n, int heads, int headDim, float eps, GeluForm gelu, int keyChunk = 0)
    {
        int hidden = heads * headDim;
        k.LayerNorm(a.X, n, Norm1Weight.View, Norm1Bias.View, eps, a.Normed);
        QueryKeyValue.Apply(k, a.Normed, n, a.QueryKeyValue);
        k.DenseAttention(new DenseAttentionArgs
        {
            Query = a.QueryKeyValue, Key = a.QueryKeyValue.SubView(hidden), Value = a.QueryKeyValue.SubView(2 * hidden), Output = a.Attention,
            QueryStride = 3 * hidden, KeyStride = 3 * hidden, ValueStride = 3 * hidden, OutputStride = hidden,
            Queries = n, Keys = n, Heads = heads, HeadDim = headDim, Scale = 1f / MathF.Sqrt(headDim), KeyChunk = keyChunk,
        });
        Output.Apply(k, a.Attention, n, a.X, accumulate: true);

        k.LayerNorm(a.X, n, Norm2Weight.View, Norm2Bias.View, eps, a.Normed);
        Up.Apply(k, a.Normed, n, a.Widened);
        int widened = n * Up.Outputs;
        if (gelu == GeluForm.Tanh) k.GeluTanh(a.Widened, a.Widened, widened);
        else k.GeluErf(a.Widened, a.Widened, widened);
        Down.Apply(k, a.Widened, n, a.X, accumulate: true);
    }

    public void Dispose()
    {
        foreach (var linear in Linears) linear.Dispose();
        Norm1Weight.Dispose(); Norm1Bias.Dispose(); Norm2Weight.Dispose(); Norm2Bias.Dispose();
    }
}
