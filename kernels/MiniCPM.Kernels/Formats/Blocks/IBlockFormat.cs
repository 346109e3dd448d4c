namespace MiniCPM.Kernels.Formats.Blocks;

/// <summary>
/// One ggml block type: its geometry and the reference decoding of a single block. Implemented by empty structs
/// with static members only, so the generic loops in <see cref="BlockLoops"/> are specialised per type (no
/// delegate call per block).
/// </summary>
internal interface IBlockFormat
{
    /// <summary>Values in one block.</summary>
    static abstract int Elements { get; }

    /// <summary>Bytes in one block.</summary>
    static abstract int Bytes { get; }

    /// <summary>Decodes exactly one block (<see cref="Bytes"/> bytes) into <see cref="Elements"/> floats.</summary>
    static abstract void Dequantize(ReadOnlySpan<byte> block, Span<float> values);
}

/// <summary>A block type that also has a ggml reference quantizer (float32 → block).</summary>
internal interface IBlockQuantizer : IBlockFormat
{
    /// <summary>Encodes exactly <see cref="IBlockFormat.Elements"/> floats into one block.</summary>
    static abstract void Quantize(ReadOnlySpan<float> values, Span<byte> block);
}
