using MiniCPM.Kernels.Formats.Blocks;

namespace MiniCPM.Kernels.Formats;

/// <summary>
/// Reference quantizers: float32 values to ggml blocks, as ggml's reference routines
/// (<c>quantize_row_*_ref</c>, the K-quants included, <c>GGML_FP32_TO_FP16</c>, <c>GGML_FP32_TO_BF16</c>) compute them, byte for byte.
/// </summary>
public static class BlockQuantizer
{
    /// <summary>
    /// True when <see cref="Quantize"/> can encode <paramref name="type"/>: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
    /// Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (everything but Q8_K, which only ever holds activations).
    /// </summary>
    public static bool CanQuantize(TensorType type) => type is
        TensorType.F32 or TensorType.F16 or TensorType.BF16 or
        TensorType.Q4_0 or TensorType.Q4_1 or TensorType.Q5_0 or TensorType.Q5_1 or TensorType.Q8_0 or TensorType.Q8_1 or
        TensorType.Q2_K or TensorType.Q3_K or TensorType.Q4_K or TensorType.Q5_K or TensorType.Q6_K;

    /// <summary>
    /// Encodes <paramref name="source"/> (length a multiple of the block size) as blocks of <paramref name="type"/>
    /// into <paramref name="destination"/>.
    /// </summary>
    /// <exception cref="NotSupportedException"><see cref="CanQuantize"/> is false for <paramref name="type"/>.</exception>
    /// <exception cref="ArgumentException">
    /// The source is not a whole number of blocks, or the destination is shorter than the encoded bytes (only that
    /// many bytes of a longer destination are written).
    /// </exception>
    public static void Quantize(TensorType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (!CanQuantize(type))
            throw new NotSupportedException($"quantization to {type} is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).");

        int blockElements = type.BlockElements();
        int blockBytes = type.BlockBytes();
        if (source.Length % blockElements != 0)
        {
            throw new ArgumentException(
                $"{source.Length} values are not a whole number of {blockElements}-value {type} blocks.", nameof(source));
        }

        long bytes = (long)(source.Length / blockElements) * blockBytes;
        if (destination.Length < bytes)
        {
            throw new ArgumentException(
                $"{source.Length} values encode to {bytes} bytes of {type}, but the destination has room for only {destination.Length}.",
                nameof(destination));
        }

        Span<byte> output = destination[..(int)bytes];
        switch (type)
        {
            case TensorType.Q4_0: BlockLoops.Quantize<Q4_0Block>(source, output); break;
            case TensorType.Q4_1: BlockLoops.Quantize<Q4_1Block>(source, output); break;
            case TensorType.Q5_0: BlockLoops.Quantize<Q5_0Block>(source, output); break;
            case TensorType.Q5_1: BlockLoops.Quantize<Q5_1Block>(source, output); break;
            case TensorType.Q8_0: BlockLoops.Quantize<Q8_0Block>(source, output); break;
            case TensorType.Q8_1: BlockLoops.Quantize<Q8_1Block>(source, output); break;
            case TensorType.Q2_K: BlockLoops.Quantize<Q2_KBlock>(source, output); break;
            case TensorType.Q3_K: BlockLoops.Quantize<Q3_KBlock>(source, output); break;
            case TensorType.Q4_K: BlockLoops.Quantize<Q4_KBlock>(source, output); break;
            case TensorType.Q5_K: BlockLoops.Quantize<Q5_KBlock>(source, output); break;
            case TensorType.Q6_K: BlockLoops.Quantize<Q6_KBlock>(source, output); break;
            default: PlainTypes.FromFloat(type, source, output); break;
        }
    }
}
