using MiniCPM.Kernels.Formats;

namespace MiniCPM.Loaders.Gguf;

/// <summary>
/// ggml's tensor type ids (the u32 in each GGUF tensor info) and the engine's <see cref="TensorType"/>: the one
/// place the two numberings meet. Ids without a mapping (the IQ* codebook types, the retired Q4_2/Q4_3, ternary and
/// newer types) are refused by the reader with their ggml name where known.
/// </summary>
public static class GgmlTypeIds
{
    private static readonly (uint Id, TensorType Type)[] Supported =
    [
        (0, TensorType.F32), (1, TensorType.F16), (2, TensorType.Q4_0), (3, TensorType.Q4_1),
        (6, TensorType.Q5_0), (7, TensorType.Q5_1), (8, TensorType.Q8_0), (9, TensorType.Q8_1),
        (10, TensorType.Q2_K), (11, TensorType.Q3_K), (12, TensorType.Q4_K), (13, TensorType.Q5_K),
        (14, TensorType.Q6_K), (15, TensorType.Q8_K),
        (24, TensorType.I8), (25, TensorType.I16), (26, TensorType.I32), (27, TensorType.I64),
        (28, TensorType.F64), (30, TensorType.BF16),
    ];

    /// <summary>The engine type for a ggml id, or null when the engine cannot hold that type.</summary>
    public static TensorType? ToTensorType(uint ggmlId)
    {
        foreach (var (id, type) in Supported)
            if (id == ggmlId) return type;
        return null;
    }

    /// <summary>The ggml id of an engine type, or null for types GGUF has no id for (U8…U64, Bool).</summary>
    public static uint? ToGgmlId(TensorType type)
    {
        foreach (var (id, t) in Supported)
            if (t == type) return id;
        return null;
    }

    /// <summary>ggml's name of a type id, for messages ("IQ2_XXS", "Q4_2 (retired)", "unknown").</summary>
    public static string Name(uint ggmlId) => ToTensorType(ggmlId)?.ToString() ?? ggmlId switch
    {
        4 => "Q4_2 (retired)",
        5 => "Q4_3 (retired)",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        29 => "IQ1_M",
        31 or 32 or 33 => "Q4_0_4_4/Q4_0_4_8/Q4_0_8_8 (retired)",
        34 => "TQ1_0",
        35 => "TQ2_0",
        36 or 37 or 38 => "IQ4_NL_4_4/4_8/8_8 (retired)",
        39 => "MXFP4",
        _ => "unknown",
    };
}
