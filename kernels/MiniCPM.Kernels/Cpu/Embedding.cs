using System.Numerics.Tensors;
using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Cpu;

/// <summary>Token embedding lookup: row ids[t] of the table, widened to float32, into output row t.</summary>
public static unsafe class Embedding
{
    /// <summary>
    /// output[t·cols .. (t+1)·cols) = table row ids[t], for F32/F16/BF16 tables directly and any other dtype through
    /// <see cref="Dequantizer.ToFloat"/> one row at a time.
    /// </summary>
    public static void Gather(WeightMatrix table, ReadOnlySpan<int> ids, Span<float> output)
    {
        int cols = table.Cols;
        if (output.Length < (long)ids.Length * cols)
            throw new ArgumentException($"output holds {output.Length} values; {ids.Length}×{cols} are needed", nameof(output));
        for (int t = 0; t < ids.Length; t++)
        {
            int id = ids[t];
            if ((uint)id >= (uint)table.Rows)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"token id at position {t} is outside the table's {table.Rows} rows");
            RowToFloat(table, id, output.Slice(t * cols, cols));
        }
    }

    /// <summary>One row of <paramref name="matrix"/> as float32.</summary>
    public static void RowToFloat(WeightMatrix matrix, int row, Span<float> destination)
    {
        int cols = matrix.Cols;
        if (destination.Length < cols) throw new ArgumentException($"destination holds {destination.Length} values; {cols} are needed", nameof(destination));
        byte* source = matrix.Row(row);
        destination = destination[..cols];
        switch (matrix.Type)
        {
            case TensorType.F32:
                new ReadOnlySpan<float>(source, cols).CopyTo(destination);
                break;
            case TensorType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, cols), destination);
                break;
            case TensorType.BF16:
                var bits = new ReadOnlySpan<ushort>(source, cols);
                for (int i = 0; i < cols; i++) destination[i] = BitConverter.Int32BitsToSingle(bits[i] << 16);
                break;
            default:
                Dequantizer.ToFloat(matrix.Type, new ReadOnlySpan<byte>(source, checked((int)matrix.RowBytes)), destination);
                break;
        }
    }
}
