using MiniCPM.Kernels.Formats;

namespace MiniCPM.Loaders.Safetensors;

/// <summary>
/// The dtype strings of the safetensors header and the engine's <see cref="TensorType"/> they map to.
/// Every safetensors dtype is a plain little-endian element type, so its byte size is the type's block size.
/// </summary>
public static class SafetensorsDtype
{
    private static readonly Dictionary<string, TensorType> Supported = new(StringComparer.Ordinal)
    {
        ["F64"] = TensorType.F64,
        ["F32"] = TensorType.F32,
        ["F16"] = TensorType.F16,
        ["BF16"] = TensorType.BF16,
        ["I64"] = TensorType.I64,
        ["I32"] = TensorType.I32,
        ["I16"] = TensorType.I16,
        ["I8"] = TensorType.I8,
        ["U8"] = TensorType.U8,
        ["BOOL"] = TensorType.Bool,
        ["U16"] = TensorType.U16,
        ["U32"] = TensorType.U32,
        ["U64"] = TensorType.U64,
    };

    // Dtypes that newer safetensors versions define but the engine has no element type for. Named separately so the
    // error says "not supported" rather than "unknown".
    private static readonly HashSet<string> KnownUnsupported = new(StringComparer.Ordinal)
    {
        "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "C128",
    };

    /// <summary>The engine type of a dtype string, or null when the engine cannot hold it.</summary>
    public static TensorType? TryParse(string dtype) => Supported.TryGetValue(dtype, out var type) ? type : null;

    /// <summary>True for dtype strings of the safetensors spec that the engine does not support.</summary>
    public static bool IsKnownUnsupported(string dtype) => KnownUnsupported.Contains(dtype);

    /// <summary>The dtype string written for a type, or null when safetensors has no such dtype (quantized types).</summary>
    public static string? TryGetName(TensorType type) => type switch
    {
        TensorType.F64 => "F64",
        TensorType.F32 => "F32",
        TensorType.F16 => "F16",
        TensorType.BF16 => "BF16",
        TensorType.I64 => "I64",
        TensorType.I32 => "I32",
        TensorType.I16 => "I16",
        TensorType.I8 => "I8",
        TensorType.U8 => "U8",
        TensorType.Bool => "BOOL",
        TensorType.U16 => "U16",
        TensorType.U32 => "U32",
        TensorType.U64 => "U64",
        _ => null,
    };
}
