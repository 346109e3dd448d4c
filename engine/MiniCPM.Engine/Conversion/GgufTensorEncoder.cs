using MiniCPM.Engine.Weights;
using MiniCPM.Kernels.Formats;
using MiniCPM.Loaders;
using MiniCPM.Loaders.Gguf;

namespace MiniCPM.Engine.Conversion;

/// <summary>
/// Adds tensors to a <see cref="GgufWriter"/> re-encoded to a target type, streaming a chunk of rows at a time so a
/// 7B model converts (or is generated) in bounded memory.
/// </summary>
internal sealed class GgufTensorEncoder(GgufWriter writer, ITensorFile? source = null)
{
    /// <summary>Adds the checkpoint weight <paramref name="weight"/> as <paramref name="ggufName"/> in <paramref name="type"/>.</summary>
    public void Add(string ggufName, WeightSource weight, TensorType type)
    {
        var file = source ?? throw new InvalidOperationException("this encoder has no source checkpoint");
        Add(ggufName, Rows(file, weight), type);
    }

    /// <summary>Adds a tensor produced row by row, encoded to <paramref name="type"/> while the file is written.</summary>
    public void Add(string ggufName, FloatRows rows, TensorType type)
    {
        if (!BlockQuantizer.CanQuantize(type)) throw new NotSupportedException($"encoding to {type} is not supported");
        if (rows.EncodedBytes(type) is null)
            throw new ModelFormatException(source?.SourcePath ?? ggufName, $"rows of {rows.RowElements} elements cannot be stored as {type} (block size {type.BlockElements()})", ggufName);
        writer.AddTensor(ggufName, type, rows.Shape, stream => rows.WriteEncoded(stream, type));
    }

    /// <summary>Adds values computed by the converter (splits, transposes, generated tables).</summary>
    public void AddFloats(string ggufName, long[] shape, float[] values, TensorType type)
    {
        if (!BlockQuantizer.CanQuantize(type)) throw new NotSupportedException($"encoding to {type} is not supported");
        writer.AddTensorFromFloats(ggufName, type, shape, values);
    }

    /// <summary>A checkpoint weight as rows in engine orientation; a transposed one is read whole first (only small ones are).</summary>
    public static FloatRows Rows(ITensorFile file, WeightSource weight) => weight.Transposed
        ? FloatRows.FromArray(weight.Shape, WeightReader.ReadAll(file, weight))
        : new FloatRows(weight.Shape, (first, count, dst) => WeightReader.ReadRows(file, weight, first, count, dst));
}
