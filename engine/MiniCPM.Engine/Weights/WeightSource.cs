using MiniCPM.Loaders;

namespace MiniCPM.Engine.Weights;

/// <summary>
/// Where one engine weight lives in a file. Linear weights are always meant as [out, in] (y = W·x); a file that
/// stores the other orientation sets <see cref="Transposed"/>. A weight packed with others in one file tensor (the
/// resampler's in_proj) is a range of its outermost rows, which stays zero copy. A linear stored as a quantized family
/// of tensors (HF int4 checkpoints) names its main tensor and describes the family in <see cref="Quantized"/>.
/// </summary>
public sealed record WeightSource(string InternalName, TensorInfo Tensor, long RowStart, long RowCount, bool Transposed)
{
    public static WeightSource Whole(string internalName, TensorInfo tensor) =>
        new(internalName, tensor, 0, tensor.Shape.Length == 0 ? 1 : tensor.Shape[0], false);

    /// <summary>Set when the weight is a quantized family of file tensors rather than <see cref="Tensor"/> alone.</summary>
    public QuantizedLinear? Quantized { get; init; }

    /// <summary>Shape of the engine weight (outermost first), after the row range and transpose.</summary>
    public long[] Shape
    {
        get
        {
            if (Quantized is { } q) return [q.Rows, q.Cols];
            var shape = (long[])Tensor.Shape.Clone();
            if (shape.Length > 0) shape[0] = RowCount;
            if (Transposed && shape.Length == 2) (shape[0], shape[1]) = (shape[1], shape[0]);
            return shape;
        }
    }
}
