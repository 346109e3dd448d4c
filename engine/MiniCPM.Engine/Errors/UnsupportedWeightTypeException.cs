using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Errors;

/// <summary>A weight is stored in a type the backend cannot multiply with yet (quantized types come later).</summary>
public sealed class UnsupportedWeightTypeException : MiniCpmException
{
    public string Weight { get; }
    public TensorType Type { get; }

    public UnsupportedWeightTypeException(string weight, TensorType type, string backend)
        : base($"weight '{weight}' is {type}; the {backend} backend multiplies F32, F16 and BF16 weights only (quantized types are not supported yet)")
    {
        Weight = weight;
        Type = type;
    }
}
