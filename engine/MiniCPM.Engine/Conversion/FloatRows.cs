using MiniCPM.Kernels.Formats;

namespace MiniCPM.Engine.Conversion;

/// <summary>
/// A tensor that yields its float32 values a block of outermost rows at a time (read from a checkpoint, or generated),
/// so writers can encode it to any type chunk by chunk without ever holding the whole tensor.
/// </summary>
internal sealed class FloatRows
{
    /// <summary>Fills <paramref name="destination"/> with rows [firstRow, firstRow + rowCount), row-major.</summary>
    public delegate void Reader(long firstRow, int rowCount, Span<float> destination);

    // Elements encoded per step: bounded memory whatever the tensor size.
    private const long ChunkElements = 1 << 20;

    private readonly Reader _read;

    public FloatRows(long[] shape, Reader read)
    {
        Shape = (long[])shape.Clone();
        _read = read;
        RowElements = 1;
        for (int i = 1; i < Shape.Length; i++) RowElements *= Shape[i];
    }

    /// <summary>Values already in memory (small tensors, transposes, generated tables).</summary>
    public static FloatRows FromArray(long[] shape, float[] values)
    {
        long rowElements = 1;
        for (int i = 1; i < shape.Length; i++) rowElements *= shape[i];
        long rows = shape.Length == 0 ? 1 : shape[0];
        if (values.Length != rows * rowElements)
            throw new ArgumentException($"{values.Length} values for shape [{string.Join(", ", shape)}]", nameof(values));
        return new FloatRows(shape, (first, count, dst) =>
            values.AsSpan(checked((int)(first * rowElements)), checked((int)(count * rowElements))).CopyTo(dst));
    }

    /// <summary>Shape, outermost first.</summary>
    public long[] Shape { get; }

    public long Rows => Shape.Length == 0 ? 1 : Shape[0];

    /// <summary>Elements of one row (the product of the inner dimensions).</summary>
    public long RowElements { get; }

    public void Read(long firstRow, int rowCount, Span<float> destination) => _read(firstRow, rowCount, destination);

    /// <summary>Bytes the tensor takes as <paramref name="type"/>; null when a row is not whole blocks of it.</summary>
    public long? EncodedBytes(TensorType type) => type.RowBytes(RowElements) is { } rowBytes ? rowBytes * Rows : null;

    /// <summary>Writes the tensor encoded as <paramref name="type"/> (F32, F16, BF16 or a block quantization).</summary>
    public void WriteEncoded(Stream stream, TensorType type)
    {
        long rowBytes = type.RowBytes(RowElements)
            ?? throw new InvalidOperationException($"rows of {RowElements} elements are not whole {type} blocks");
        int rowsPerChunk = (int)Math.Clamp(ChunkElements / Math.Max(RowElements, 1), 1, Math.Max(Rows, 1));
        var floats = new float[rowsPerChunk * RowElements];
        var encoded = new byte[rowsPerChunk * rowBytes];
        for (long row = 0; row < Rows; row += rowsPerChunk)
        {
            int rows = (int)Math.Min(rowsPerChunk, Rows - row);
            var values = floats.AsSpan(0, (int)(rows * RowElements));
            Read(row, rows, values);
            var bytes = encoded.AsSpan(0, (int)(rows * rowBytes));
            BlockQuantizer.Quantize(type, values, bytes);
            stream.Write(bytes);
        }
    }
}
