namespace MiniCPM.Kernels.Cpu;

/// <summary>
/// What a matrix product with block-quantized weights does with its float32 activations.
/// </summary>
public enum ActivationPrecision
{
    /// <summary>Activations stay float32: the result is the dot of the dequantized weights with x, up to float32 summation order.</summary>
    Float32,

    /// <summary>
    /// Activations are quantized to 8 bits per block first, as llama.cpp does (Q8_0/Q8_1 blocks of 32 for the 32-element
    /// weight types, Q8_K blocks of 256 for the K types), and each block is an exact integer dot product. Faster; the
    /// result carries the activation rounding (≈ 0.4% of a block's largest |x| per element). Weight types without
    /// integer kernels (F32, F16, BF16) ignore it.
    /// </summary>
    Int8,
}
