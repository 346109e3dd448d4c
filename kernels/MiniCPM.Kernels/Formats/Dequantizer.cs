namespace MiniCPM.Kernels.Formats;

/// <summary>Reference (scalar) conversion of any <see cref="TensorType"/> to float32.</summary>
public static class Dequantizer
{
    /// <summary>
    /// Converts whole blocks of <paramref name="type"/> in <paramref name="source"/> to float32 values in
    /// <paramref name="destination"/> (length = blocks × BlockElements).
    /// </summary>
    public static void ToFloat(TensorType type, ReadOnlySpan<byte> source, Span<float> destination) =>
        throw new NotSupportedException($"dequantization of {type} is not implemented yet");
}
