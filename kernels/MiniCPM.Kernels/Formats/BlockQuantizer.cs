namespace MiniCPM.Kernels.Formats;

/// <summary>Reference quantizers: float32 values to ggml blocks, as ggml's reference routines compute them.</summary>
public static class BlockQuantizer
{
    /// <summary>True when <see cref="Quantize"/> can encode <paramref name="type"/>.</summary>
    public static bool CanQuantize(TensorType type) => false;

    /// <summary>
    /// Encodes <paramref name="source"/> (length a multiple of the block size) as blocks of <paramref name="type"/>
    /// into <paramref name="destination"/>.
    /// </summary>
    public static void Quantize(TensorType type, ReadOnlySpan<float> source, Span<byte> destination) =>
        throw new NotSupportedException($"quantization to {type} is not implemented yet");
}
