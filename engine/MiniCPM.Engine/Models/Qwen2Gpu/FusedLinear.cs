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

    /// <summary>
    /// Whether <see cref="Apply"/> takes the int8 path for <paramref name="tokens"/> rows: a few rows, room in the
    /// buffer, and an int8 kernel for every part. The producer of x may then quantize it itself into
    /// <paramref name="int8"/> (fused into the kernel that makes x) and call <see cref="ApplyQuantized"/>.
    /// </summary>
    public bool TakesInt8(int tokens, Int8Buffer? int8) =>
        int8 is not null && tokens <= MaxInt8Tokens && tokens <= int8.Tokens && Inputs <= int8.Cols
        && _parts.All(p => GpuKernels.HasInt8Kernel(p.Matrix.Type));

    /// <summary>Y[t] = W·X[t] + b (accumulate: Y[t] += …) for <paramref name="tokens"/> rows.</summary>
    /// <param name="int8">When given and <see cref="TakesInt8"/>: x is quantized into it (one launch) and each part runs
    /// the integer kernel.</param>
    public void Apply(GpuKernels kernels, ArrayView<float> x, int tokens, ArrayView<float> y, bool accumulate = false,
        Int8Buffer? int8 = null)
    {
        if (TakesInt8(tokens, int8))
        {
            var blocks = int8!.For(Inputs);
            kernels.QuantizeInt8(x, tokens, Inputs, blocks);
            ApplyQuantized(kernels, blocks, tokens, y, accumulate);
            return;
        }
        foreach (var (matrix, offset) in _parts)
            kernels.MatMul(matrix, x, tokens, y.SubView(offset), Bias(offset, matrix.Rows), accumulate, yStride: Outputs);
    }

    /// <summary>As <see cref="Apply"/> with x already quantized (valid only where <see cref="TakesInt8"/>): no quantize launch.</summary>
    /// <param name="norm">When given (made for this projection's <see cref="Matrices"/> and whole rows of y): every
    /// part runs it as its tail (<see cref="GpuKernels.MatMulInt8ThenRmsNorm"/>), so the norm of each finished row y[t]
    /// needs no launch of its own.</param>
    public void ApplyQuantized(GpuKernels kernels, Int8Blocks x, int tokens, ArrayView<float> y, bool accumulate = false,
        RmsNormTail? norm = null)
    {
        foreach (var (matrix, offset) in _parts)
            if (norm is { } tail)
                kernels.MatMulInt8ThenRmsNorm(matrix, x, tokens, y.SubView(offset), tail, Bias(offset, matrix.Rows), accumulate, yStride: Outputs);
            else kernels.MatMulInt8(matrix, x, tokens, y.SubView(offset), Bias(offset, matrix.Rows), accumulate, yStride: Outputs);
    }

    /// <summary>Whether this gate|up projection can carry SiLU·mul as its tail (<see cref="ApplyQuantizedThenSwiGlu"/>):
    /// one matrix (gate and up of one dtype), no bias, gate and up whole int8 blocks.</summary>
    public bool CarriesSwiGlu => _parts.Length == 1 && _bias is null && Outputs % 64 == 0;

    /// <summary>The single matrix of a projection that <see cref="CarriesSwiGlu"/>.</summary>
    public GpuMatrix SingleMatrix => _parts.Length == 1 ? _parts[0].Matrix : throw new InvalidOperationException($"{_parts.Length} matrices, not one");

    /// <summary>The gate|up product from int8 blocks with SiLU·mul and its int8 blocks in the same launch
    /// (<see cref="GpuKernels.MatMulInt8ThenSwiGlu"/>); valid where <see cref="CarriesSwiGlu"/> and <see cref="TakesInt8"/>.</summary>
    public void ApplyQuantizedThenSwiGlu(GpuKernels kernels, Int8Blocks x, int tokens, ArrayView<float> y, SwiGluInt8Tail swiGlu) =>
        kernels.MatMulInt8ThenSwiGlu(SingleMatrix, x, tokens, y, swiGlu);

    /// <summary>
    /// The q|k|v projection with RoPE and the KV-cache write fused into each part's launch
    /// (<see cref="GpuKernels.MatMulInt8RopeAndCache"/> from int8 blocks when <paramref name="int8"/> is given, else
    /// <see cref="GpuKernels.MatMulRopeAndCache"/> from float x): Qkv (<paramref name="rope"/>.Qkv) and the caches end as
    /// the plain projection followed by <see cref="GpuKernels.RopeAndCache"/> leave them, bit for bit.
    /// </summary>
    public void ApplyRopeAndCache(GpuKernels kernels, ArrayView<float> x, Int8Blocks? int8, int tokens, RopeArgs rope)
    {
        foreach (var (matrix, offset) in _parts)
            if (int8 is { } blocks) kernels.MatMulInt8RopeAndCache(matrix, blocks, tokens, rope, offset, Bias(offset, matrix.Rows));
            else kernels.MatMulRopeAndCache(matrix, x, tokens, rope, offset, Bias(offset, matrix.Rows));
    }

    private ArrayView<float> Bias(int offset, int rows) => _bias is null ? default : (ArrayView<float>)_bias.View.SubView(offset, rows);

    public void Dispose()
    {
        foreach (var (matrix, _) in _parts) matrix.Dispose();
        _bias?.Dispose();
    }
}
