using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Conversion;

/// <summary>
/// Adds engine weights to a <see cref="GgufWriter"/> re-encoded to a target type, streaming a few rows at a time so a
/// 7B checkpoint converts in bounded memory.
/// </summary>
internal sealed class GgufTensorEncoder(GgufWriter writer, ITensorFile source)
{
    private const long ChunkElements = 1 << 20;

    /// <summary>Adds <paramref name="weight"/> as <paramref name="ggufName"/> in <paramref name="type"/>.</summary>
    public void Add(string ggufName, WeightSource weight, TensorType type)
    {
        if (weight.Transposed)
        {
            AddFloats(ggufName, weight.Shape, WeightReader.ReadAll(source, weight), type);
            return;
        }
        long rowElements = WeightReader.RowElements(weight);
        long rowBytesOut = type.RowBytes(rowElements)
            ?? throw new ModelFormatException(source.SourcePath, $"rows of {rowElements} elements cannot be stored as {type} (block size {type.BlockElements()})", weight.Tensor.Name);
        int rowsPerChunk = (int)Math.Max(1, ChunkElements / Math.Max(rowElements, 1));
        writer.AddTensor(ggufName, type, weight.Shape, stream =>
        {
            var floats = new float[rowsPerChunk * rowElements];
            var encoded = new byte[rowsPerChunk * rowBytesOut];
            for (long row = 0; row < weight.RowCount; row += rowsPerChunk)
            {
                int rows = (int)Math.Min(rowsPerChunk, weight.RowCount - row);
                var values = floats.AsSpan(0, (int)(rows * rowElements));
                WeightReader.ReadRows(source, weight, row, rows, values);
                var bytes = encoded.AsSpan(0, (int)(rows * rowBytesOut));
                BlockQuantizer.Quantize(type, values, bytes);
                stream.Write(bytes);
            }
        });
    }

    /// <summary>Adds values computed by the converter (splits, transposes, generated tables).</summary>
    public void AddFloats(string ggufName, long[] shape, float[] values, TensorType type)
    {
        if (!BlockQuantizer.CanQuantize(type)) throw new NotSupportedException($"encoding to {type} is not supported");
        writer.AddTensorFromFloats(ggufName, type, shape, values);
    }
}
