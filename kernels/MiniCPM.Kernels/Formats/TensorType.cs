namespace MiniCPM.Kernels.Formats;

/// <summary>
/// Every element type the engine can hold in memory: the plain dtypes of safetensors and GGUF, and ggml's
/// block-quantized types. Values are the engine's own; file formats map their ids onto these in one place each.
/// </summary>
public enum TensorType
{
    F32,
    F16,
    BF16,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
}
