using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Cpu;
using MiniCPM.Kernels.Formats.Int4;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Models;

/// <summary>
/// A linear weight of an HF int4 checkpoint as the CPU kernels multiply it: a view of the file's NF4 or GPTQ tensors
/// (no dequantized copy) and the matching fused kernel.
/// </summary>
internal sealed class Int4Matrix
{
    private readonly Nf4Tensor _nf4;
    private readonly GptqTensor _gptq;
    private readonly bool _isNf4;

    private Int4Matrix(Nf4Tensor nf4, GptqTensor gptq, bool isNf4, int rows, int cols)
    {
        _nf4 = nf4;
        _gptq = gptq;
        _isNf4 = isNf4;
        Rows = rows;
        Cols = cols;
    }

    public int Rows { get; }
    public int Cols { get; }

    public static Int4Matrix Map(ITensorFile file, WeightSource weight)
    {
        switch (weight.Quantized)
        {
            case Nf4Linear nf4:
                var view = Int4Views.Nf4(file, nf4);
                if (Nf4MatMul.Unsupported(view) is { } reason)
                    throw new ModelFormatException(file.SourcePath, $"NF4 weight '{weight.InternalName}' cannot be multiplied on the CPU: {reason}", weight.Tensor.Name);
                return new Int4Matrix(view, default, true, nf4.Rows, nf4.Cols);
            case GptqLinear gptq:
                return new Int4Matrix(default, Int4Views.Gptq(file, gptq), false, gptq.Rows, gptq.Cols);
            default:
                throw new ArgumentException($"'{weight.InternalName}' is not an int4 weight", nameof(weight));
        }
    }

    /// <summary>Y[t] = W·X[t] (+ bias) for <paramref name="tokens"/> rows.</summary>
    public void Multiply(ReadOnlySpan<float> x, int tokens, Span<float> y, ReadOnlySpan<float> bias, CpuThreadPool? pool)
    {
        if (_isNf4) Nf4MatMul.Multiply(_nf4, x, tokens, y, bias, pool);
        else GptqMatMul.Multiply(_gptq, x, tokens, y, bias, pool);
    }
}
