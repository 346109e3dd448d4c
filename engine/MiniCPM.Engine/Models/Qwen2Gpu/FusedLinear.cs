using ILGPU;
using ILGPU.Runtime;
using MiniCPM.Kernels.Gpu;

namespace MiniCPM.Engine.Models.Qwen2Gpu;

/// <summary>
/// One or more weight matrices over the same input whose outputs sit side by side in one row (q|k|v, gate|up), with
/// their concatenated bias. Parts of one dtype are uploaded as a single matrix so the projection is one launch;
/// mixed-dtype files (e.g. Q4_K_M's Q6_K value projection) keep one matrix, and one launch, per dtype run.
/// </summary>
internal sealed class FusedLinear : IDisposable
{
    private readonly (GpuMatrix Matrix, int Offset)[] _parts;
    private readonly MemoryBuffer1D<float, Stride1D.Dense>? _bias;

    public FusedLinear((GpuMatrix Matrix, int Offset)[] parts, MemoryBuffer1D<float, Stride1D.Dense>? bias)
    {
        _parts = parts;
        _bias = bias;
        Outputs = parts.Sum(p => p.Matrix.Rows);
        Inputs = parts[0].Matrix.Cols;
    }

    public int Inputs { get; }
    public int Outputs { get; }
    public long WeightBytes => _parts.Sum(p => p.Matrix.Bytes);
    public IEnumerable<GpuMatrix> Matrices => _parts.Select(p => p.Matrix);

    /// <summary>Up to this many rows take the int8-activation kernels (decode); more share each weight load in the float kernel.</summary>
    public const int MaxInt8Tokens = 4;

    /// <summary>Y[t] = W·X[t] + b (accumulate: Y[t] += …) for <paramref name="tokens"/> rows.</summary>
    /// <param name="int8">When given (int8 activations chosen), a few rows and every part has an int8 kernel: x is
    /// quantized into it once and each part runs the integer kernel.</param>
    public void Apply(GpuKernels kernels, ArrayView<float> x, int tokens, ArrayView<float> y, bool accumulate = false,
        Int8Buffer? int8 = null)
    {
        if (int8 is not null && tokens <= MaxInt8Tokens && tokens <= int8.Tokens && Inputs <= int8.Cols
            && _parts.All(p => GpuKernels.HasInt8Kernel(p.Matrix.Type)))
        {
            var blocks = int8.For(Inputs);
            kernels.QuantizeInt8(x, tokens, Inputs, blocks);
            foreach (var (matrix, offset) in _parts)
            {
                var bias = _bias is null ? default : _bias.View.SubView(offset, matrix.Rows);
                kernels.MatMulInt8(matrix, blocks, tokens, y.SubView(offset), (ArrayView<float>)bias, accumulate, yStride: Outputs);
            }
            return;
        }
        foreach (var (matrix, offset) in _parts)
        {
            var bias = _bias is null ? default : _bias.View.SubView(offset, matrix.Rows);
            kernels.MatMul(matrix, x, tokens, y.SubView(offset), (ArrayView<float>)bias, accumulate, yStride: Outputs);
        }
    }

    public void Dispose()
    {
        foreach (var (matrix, _) in _parts) matrix.Dispose();
        _bias?.Dispose();
    }
}
