using MiniCPM.Kernels.Formats.Blocks;

namespace MiniCPM.Kernels.Formats;

/// <summary>
/// Reference (scalar) conversion of any <see cref="TensorType"/> to float32. Block types decode bit-identically to
/// ggml's <c>dequantize_row_*</c> in ggml-quants.c: the same float32 operations in the same order, with no fused
/// multiply-add (the C source's own semantics).
/// </summary>
public static class Dequantizer
{
    /// <summary>
    /// Converts whole blocks of <paramref name="type"/> in <paramref name="source"/> to float32 values in
    /// <paramref name="destination"/> (length = blocks × BlockElements).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="source"/> is not a whole number of blocks, or <paramref name="destination"/> is shorter than
    /// the values it holds. Only the first blocks × BlockElements floats of a longer destination are written.
    /// </exception>
    public static void ToFloat(TensorType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        int blockBytes = type.BlockBytes();
        int blockElements = type.BlockElements();
        if (source.Length % blockBytes != 0)
        {
            throw new ArgumentException(
                $"{type} data of {source.Length} bytes is not a whole number of {blockBytes}-byte blocks.", nameof(source));
        }

        long elements = (long)(source.Length / blockBytes) * blockElements;
        if (destination.Length < elements)
        {
            throw new ArgumentException(
                $"{type} data of {source.Length} bytes holds {elements} values, but the destination has room for only {destination.Length}.",
                nameof(destination));
        }

        Span<float> y = destination[..(int)elements];
        switch (type)
        {
            case TensorType.Q4_0: BlockLoops.Dequantize<Q4_0Block>(source, y); break;
            case TensorType.Q4_1: BlockLoops.Dequantize<Q4_1Block>(source, y); break;
            case TensorType.Q5_0: BlockLoops.Dequantize<Q5_0Block>(source, y); break;
            case TensorType.Q5_1: BlockLoops.Dequantize<Q5_1Block>(source, y); break;
            case TensorType.Q8_0: BlockLoops.Dequantize<Q8_0Block>(source, y); break;
            case TensorType.Q8_1: BlockLoops.Dequantize<Q8_1Block>(source, y); break;
            case TensorType.Q2_K: BlockLoops.Dequantize<Q2_KBlock>(source, y); break;
            case TensorType.Q3_K: BlockLoops.Dequantize<Q3_KBlock>(source, y); break;
            case TensorType.Q4_K: BlockLoops.Dequantize<Q4_KBlock>(source, y); break;
            case TensorType.Q5_K: BlockLoops.Dequantize<Q5_KBlock>(source, y); break;
            case TensorType.Q6_K: BlockLoops.Dequantize<Q6_KBlock>(source, y); break;
            case TensorType.Q8_K: BlockLoops.Dequantize<Q8_KBlock>(source, y); break;
            default: PlainTypes.ToFloat(type, source, y); break;
        }
    }

    /// <summary>
    /// Converts one row (a whole number of blocks, e.g. one embedding row or one weight row) to float32. Same
    /// contract as <see cref="ToFloat"/>; a separate name so row-wise callers (embedding gather, per-row kernels)
    /// read clearly and can later get a specialised path without changing call sites.
    /// </summary>
    public static void RowToFloat(TensorType type, ReadOnlySpan<byte> row, Span<float> destination) =>
        ToFloat(type, row, destination);
}
