using MiniCPM.Kernels.Formats;

namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// A weight matrix in PyTorch's [out, in] layout: <see cref="Rows"/> outputs, each a contiguous row of
/// <see cref="Cols"/> inputs stored in <see cref="Type"/>, rows <see cref="RowStrideBytes"/> apart.
/// It is only a view over memory someone else owns (usually a memory-mapped file), so byte offsets are 64-bit and a
/// tensor may exceed 2 GiB. The weights keep their dtype; kernels widen them chunk by chunk.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public WeightMatrix(TensorType type, byte* data, int rows, int cols, long rowStrideBytes)
    {
        if (data == null) throw new ArgumentNullException(nameof(data));
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        long? rowBytes = type.RowBytes(cols);
        if (rowBytes is null)
            throw new ArgumentException($"{cols} columns are not a whole number of {type} blocks", nameof(cols));
        if (rowStrideBytes < rowBytes.Value)
            throw new ArgumentOutOfRangeException(nameof(rowStrideBytes), rowStrideBytes,
                $"row stride is smaller than one row of {cols} {type} values ({rowBytes.Value} bytes)");

        Type = type;
        Data = data;
        Rows = rows;
        Cols = cols;
        RowStrideBytes = rowStrideBytes;
        RowBytes = rowBytes.Value;
    }

    /// <summary>A matrix whose rows follow each other with no padding.</summary>
    public static WeightMatrix Contiguous(TensorType type, byte* data, int rows, int cols) =>
        new(type, data, rows, cols, type.RowBytes(cols) ?? throw new ArgumentException(
            $"{cols} columns are not a whole number of {type} blocks", nameof(cols)));

    public TensorType Type { get; }
    public byte* Data { get; }
    /// <summary>Outputs (the first dimension of a PyTorch Linear weight).</summary>
    public int Rows { get; }
    /// <summary>Inputs (the second dimension).</summary>
    public int Cols { get; }
    public long RowStrideBytes { get; }
    /// <summary>Bytes that one row's values occupy (≤ <see cref="RowStrideBytes"/>).</summary>
    public long RowBytes { get; }

    /// <summary>Bytes of weights a full pass over the matrix reads.</summary>
    public long TotalBytes => RowBytes * Rows;

    public byte* Row(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row), row, $"matrix has {Rows} rows");
        return Data + row * RowStrideBytes;
    }
}
