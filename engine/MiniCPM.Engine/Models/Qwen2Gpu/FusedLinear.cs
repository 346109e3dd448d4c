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

    /// <summary>Y[t] = W·X[t] + b (accumulate: Y[t] += …) for <paramref name="tokens"/> rows.</summary>
    public void Apply(GpuKernels kernels, ArrayView<float> x, int tokens, ArrayView<float> y, bool accumulate = false)
    {
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
