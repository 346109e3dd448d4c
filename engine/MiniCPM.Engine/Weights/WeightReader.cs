using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;

namespace MiniCPM.Engine.Weights;

/// <summary>
/// Reads engine weights as float32, whatever their file dtype: row ranges for streaming large matrices, or whole
/// small tensors (the only place a transposed file layout is undone).
/// </summary>
public static class WeightReader
{
    /// <summary>Bytes of one outermost row of the file tensor behind <paramref name="weight"/>.</summary>
    public static long RowBytes(WeightSource weight)
    {
        var tensor = weight.Tensor;
        long rows = tensor.Shape.Length == 0 ? 1 : tensor.Shape[0];
        return rows == 0 ? 0 : tensor.ByteLength / rows;
    }

    /// <summary>Elements of one outermost row (the product of the inner dimensions).</summary>
    public static long RowElements(WeightSource weight)
    {
        if (weight.Quantized is { } q) return q.Cols;
        long n = 1;
        for (int i = 1; i < weight.Tensor.Shape.Length; i++) n *= weight.Tensor.Shape[i];
        return n;
    }

    /// <summary>
    /// Reads <paramref name="rowCount"/> rows starting at <paramref name="firstRow"/> (relative to the weight's own
    /// row range) into <paramref name="destination"/>. Not for transposed weights.
    /// </summary>
    public static void ReadRows(ITensorFile file, WeightSource weight, long firstRow, int rowCount, Span<float> destination)
    {
        if (weight.Transposed) throw new InvalidOperationException($"'{weight.InternalName}' is stored transposed; read it whole with ReadAll");
        if (firstRow < 0 || rowCount < 0 || firstRow + rowCount > weight.RowCount)
            throw new ArgumentOutOfRangeException(nameof(firstRow), $"rows [{firstRow}, {firstRow + rowCount}) outside the {weight.RowCount} rows of '{weight.InternalName}'");
        if (weight.Quantized is { } quantized)
        {
            Int4Views.DequantizeRows(file, quantized, checked((int)firstRow), rowCount, destination);
            return;
        }
        long rowBytes = RowBytes(weight);
        long rowElements = RowElements(weight);
        var data = file.GetData(weight.Tensor);
        var bytes = data.Slice((weight.RowStart + firstRow) * rowBytes, rowCount * rowBytes).AsSpan();
        Dequantizer.ToFloat(weight.Tensor.Type, bytes, destination[..checked((int)(rowCount * rowElements))]);
    }

    /// <summary>The whole weight as float32 in engine orientation (transposed file layouts undone).</summary>
    public static float[] ReadAll(ITensorFile file, WeightSource weight)
    {
        long rows = weight.RowCount, cols = RowElements(weight);
        var values = new float[checked(rows * cols)];
        if (!weight.Transposed)
        {
            ReadRows(file, weight with { Transposed = false }, 0, checked((int)rows), values);
            return values;
        }
        var stored = new float[values.Length];
        ReadRows(file, weight with { Transposed = false }, 0, checked((int)rows), stored);
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < cols; c++)
                values[c * rows + r] = stored[r * cols + c];
        return values;
    }
}
